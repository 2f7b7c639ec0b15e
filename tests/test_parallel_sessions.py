"""Many sessions: serially, in worker processes (--jobs), on a local Ray cluster (--ray); summaries and retries.
Two processes on one session are in tests/test_session_lock.py."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from agent.scripted.progress import Progress, clock
from agent.scripted.runner import EXIT_BAD_FILE, EXIT_OK, run_main
from agent.scripted.summary import StageClock, session_summary
from agent.scripted.transcript import SessionRecord, TurnRecord, VersionRecord

ROOT = Path(__file__).resolve().parent.parent
SESSIONS = ROOT / "sessions"
PLAYED = [SESSIONS / "dialog.yaml", SESSIONS / "first_run.yaml"]
"""Two quick example sessions: a re-asked planner reply, a question answered, four versions between them."""


def results(root: Path) -> list[tuple]:
    """What must not depend on how the sessions were played: per session its result, turns and versions."""
    data = json.loads((root / "summary.json").read_text())
    return [(s["name"], s["status"], s["failing_turn"], s["turns"], s["versions"], s["questions"],
             s["planned"], s["valid_plans"], s["edits"], s["inside_masks"]) for s in data["sessions"]]


def sessions(root: Path) -> dict[str, dict]:
    return {s["name"]: s for s in json.loads((root / "summary.json").read_text())["sessions"]}


# -- fast: the pieces ------------------------------------------------------------------------------------------

def test_progress_counts_and_time_left_as_plain_lines_off_a_terminal():
    stream = io.StringIO()
    progress = Progress(4, stream=stream, width=8)
    progress.show()
    assert stream.getvalue() == ""                     # not a terminal: a line per finished session only
    progress.done, progress.failed, progress.running = 1, 1, 2
    progress.show(finished=True)
    line = stream.getvalue()
    assert line.startswith("[##------] 1/4 sessions, 1 failed, 2 running, 0:00 elapsed, about 0:00 left")
    assert line.endswith("\n") and "\r" not in line
    assert clock(75) == "1:15" and clock(3725) == "1:02:05"


def test_progress_redraws_one_line_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    progress = Progress(2, stream=stream)
    progress.done = 1
    progress.show()
    progress.clear()
    progress.show(finished=True)
    progress.close()
    text = stream.getvalue()
    assert text.count("\r\x1b[K") == 3 and text.count("1/2 sessions") == 2 and text.endswith("\n")


def test_stage_clock_books_each_stage_until_the_next_begins():
    stages = StageClock()
    for stage in ("plan", "locate", "locate", "edit", "plan"):
        stages(stage, 0, 1)
    taken = stages.take()
    assert list(taken) == ["plan", "locate", "edit"] and all(s >= 0 for s in taken.values())
    assert stages.take() == {}


def _png(path: Path, array: np.ndarray) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path.name


def test_the_summary_finds_an_edit_that_changed_pixels_outside_its_mask(tmp_path):
    before = np.zeros((8, 8, 3), np.uint8)
    inside, outside = before.copy(), before.copy()
    inside[2:4, 2:4] = 255
    outside[2:4, 2:4], outside[7, 7] = 255, 9           # one pixel outside the mask changed
    mask = np.zeros((8, 8), np.uint8)
    mask[1:5, 1:5] = 255
    for name, array in (("v0.png", before), ("v1.png", inside), ("v2.png", outside)):
        _png(tmp_path / "versions" / name, array)
    _png(tmp_path / "masks" / "m.png", mask)
    record = SessionRecord(name="s", image_source="x", original="versions/v0.png", profile="tiny", seed=0,
                           versions=[VersionRecord(number=0, turn=0, image="versions/v0.png"),
                                     VersionRecord(number=1, turn=1, parent=0, image="versions/v1.png",
                                                   mask="masks/m.png"),
                                     VersionRecord(number=2, turn=2, parent=1, image="versions/v2.png",
                                                   mask="masks/m.png")],
                           turns=[TurnRecord(index=1, kind="user", value="a", planned_by="planner",
                                             planner_replies=["not a plan", '{"reasoning": "r", "steps": '
                                                              '[{"action": "undo"}]}']),
                                  TurnRecord(index=2, kind="user", value="b", planned_by="grammar",
                                             failures=["expected x"])],
                           passed=False)
    summary = session_summary(record, tmp_path, source="s.yaml", root=tmp_path.parent, exit=1)
    assert (summary.edits, summary.inside_masks, summary.outside_masks) == (2, 1, [2])
    assert (summary.planned, summary.valid_plans) == (1, 0)     # re-asked: not valid at the first reply
    assert summary.status == "failed" and summary.failing_turn == 2 and summary.out == tmp_path.name


def test_ray_missing_is_one_line_naming_the_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)      # `import ray` now fails as it does without the extra
    code = run_main([str(PLAYED[0]), str(PLAYED[1]), "--profile", "tiny", "--out", str(tmp_path), "--ray"])
    err = capsys.readouterr().err.strip()
    assert code == EXIT_BAD_FILE
    assert err == "chatedit run: --ray needs Ray, which is not installed: pip install 'chatedit[cluster]'"


@pytest.mark.parametrize("address, why", [("no-such-host.invalid:6379", "no such host"),
                                          ("127.0.0.1:1", "Connection refused")])
def test_a_ray_address_where_nothing_answers_is_one_line_at_once(tmp_path, capsys, address, why):
    """Ray itself retries an unreachable head for a minute or more, printing its own warnings."""
    code = run_main([str(PLAYED[0]), "--profile", "tiny", "--out", str(tmp_path), f"--ray={address}"])
    err = capsys.readouterr().err.strip()
    assert code == EXIT_BAD_FILE and len(err.splitlines()) == 1
    assert err.startswith(f"chatedit run: --ray {address}: nothing answers there ({why}") and "ray start" in err

def test_jobs_below_one_is_one_line(tmp_path, capsys):
    assert run_main([str(PLAYED[0]), "--jobs", "0", "--out", str(tmp_path)]) == EXIT_BAD_FILE
    assert capsys.readouterr().err.strip() == "chatedit run: --jobs must be 1 or more, got 0"


def test_a_bad_file_among_good_ones_is_in_the_summary_as_could_not_run(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("image: coffee\nturns: []\n")
    missing = tmp_path / "missing.yaml"
    assert run_main([str(bad), str(missing), "--profile", "tiny", "--out", str(tmp_path / "out")]) == EXIT_BAD_FILE
    data = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert [(s["name"], s["status"], s["exit"]) for s in data["sessions"]] == [("bad", "error", 2),
                                                                               ("missing", "error", 2)]
    assert "line 2" in data["sessions"][0]["error"] and data["totals"]["errors"] == 2
    assert "could not run" in (tmp_path / "out" / "summary.md").read_text()


def test_ray_before_the_files_reads_them_as_files_not_an_address(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    assert run_main(["--ray", str(PLAYED[0]), str(PLAYED[1]), "--out", str(tmp_path)]) == EXIT_BAD_FILE
    assert "pip install 'chatedit[cluster]'" in capsys.readouterr().err      # it got as far as starting Ray


class _Dying:
    """A backend whose workers die on the sessions named in ``deaths`` (how many times each)."""

    kind = "processes"
    slots = 2

    def __init__(self, deaths: dict[str, int]) -> None:
        self.deaths, self.restarts, self._jobs = dict(deaths), [], {}

    def submit(self, slot, job):
        self._jobs[id(job)] = job
        return id(job)

    def wait(self, handles):
        job = self._jobs.pop(handles[0])
        if self.deaths.get(job.script.name, 0) > 0:
            self.deaths[job.script.name] -= 1
            yield handles[0], None, "its worker process died"
            return
        from agent.scripted.summary import SessionSummary
        from agent.scripted.worker import JobResult

        yield handles[0], JobResult(index=job.index, code=0, summary=SessionSummary(
            name=job.script.name, source=job.source, out=str(job.out), status="passed", exit=0)), None

    def restart(self, slot):
        self.restarts.append(slot)


def test_a_session_whose_worker_dies_twice_could_not_run_and_the_others_go_on(tmp_path):
    from agent.scripted.parallel import drive
    from agent.scripted.script import script_from_file
    from agent.scripted.session_file import load_session_file
    from agent.scripted.worker import Job

    jobs = [Job(index=i, source=str(p), script=script_from_file(load_session_file(p)), out=tmp_path / p.stem)
            for i, p in enumerate([*PLAYED, SESSIONS / "global.yaml"])]
    backend, shown = _Dying({"dialog": 2, "first_run": 1}), []
    results = drive(backend, jobs, None, lambda text, err: shown.append(text))
    assert [(r.summary.name, r.code, r.summary.status) for r in results] == [
        ("dialog", 1, "error"), ("first_run", 0, "passed"), ("global", 0, "passed")]
    assert "died, twice" in results[0].summary.error and results[0].summary.retried
    assert results[1].summary.retried and results[2].summary.retried is None and len(backend.restarts) == 3


def test_the_readme_many_sessions_commands_parse():
    import shlex

    from agent.scripted.runner import build_parser

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("\n## Many sessions\n", 1)[1].split("\n## ", 1)[0]
    lines = [ln.split("  #")[0] for ln in section.splitlines() if ln.startswith("chatedit run ")]
    assert len(lines) >= 4
    for line in lines:
        args = build_parser().parse_args(shlex.split(line)[2:])
        assert args.files and (args.jobs or 1) >= 1

@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    """The serial run, on one torch thread as every worker below (a CPU edit's last bits depend on the count)."""
    import torch

    root = tmp_path_factory.mktemp("serial")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert run_main([*map(str, PLAYED), "--profile", "tiny", "--out", str(root)]) == EXIT_OK
    finally:
        torch.set_num_threads(threads)
    return root


@pytest.mark.slow
def test_a_serial_run_writes_a_summary_of_every_session(serial):
    data = json.loads((serial / "summary.json").read_text())
    assert data["backend"] == "serial" and data["totals"]["passed"] == 2 and data["totals"]["retried"] == 0
    dialog, first = sessions(serial)["dialog"], sessions(serial)["first_run"]
    assert (dialog["planned"], dialog["valid_plans"]) == (3, 2)    # its second turn's first reply is prose
    assert first["questions"] >= 1 and first["edits"] == len(first["versions"]) - 1 == first["inside_masks"]
    stages = [t["stages"] for s in (dialog, first) for t in s["turn_timings"]]
    assert any("edit" in st and "plan" in st for st in stages)
    for name, s in sessions(serial).items():
        assert (serial / s["out"] / "transcript.json").is_file() and s["out"] == name   # the same folders as before
    md = (serial / "summary.md").read_text()
    assert "[dialog](dialog/transcript.md)" in md and "2 passed" in md


@pytest.mark.slow
def test_two_worker_processes_give_the_serial_results_and_a_killed_worker_is_retried(serial, tmp_path, monkeypatch,
                                                                                       capsys):
    monkeypatch.setenv("CHATEDIT_TEST_CRASH", f"first_run@{tmp_path / 'crashed'}")   # dies after turn 1, once
    monkeypatch.setenv("OMP_NUM_THREADS", "1")          # one torch thread per worker, as the serial run
    root = tmp_path / "out"
    assert run_main([*map(str, PLAYED), "--profile", "tiny", "--out", str(root), "--jobs", "2"]) == EXIT_OK
    assert (tmp_path / "crashed").is_file()
    assert results(root) == results(serial)
    data = json.loads((root / "summary.json").read_text())
    assert data["backend"] == "processes" and data["workers"] == 2 and data["totals"]["retried"] == 1
    by_name = sessions(root)
    assert "worker process died" in by_name["first_run"]["retried"] and by_name["dialog"]["retried"] is None
    assert "first_run: retried: its worker process died" in (root / "summary.md").read_text()
    assert "first_run: its worker process died; playing it once more" in capsys.readouterr().err


@pytest.mark.slow
def test_a_local_ray_cluster_gives_the_serial_results_and_a_killed_actor_is_retried(serial, tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")
    monkeypatch.setenv("CHATEDIT_TEST_CRASH", f"dialog@{tmp_path / 'crashed'}")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")          # one torch thread per worker, as the serial run
    root = tmp_path / "out"
    try:
        code = run_main([*map(str, PLAYED), "--profile", "tiny", "--out", str(root), "--ray", "--jobs", "2"])
        assert not ray.is_initialized()                 # the run shut down the cluster it started
    finally:
        if ray.is_initialized():
            ray.shutdown()
    assert code == EXIT_OK and (tmp_path / "crashed").is_file()
    assert results(root) == results(serial)
    data = json.loads((root / "summary.json").read_text())
    assert data["backend"] == "ray" and data["workers"] == 2 and data["totals"]["retried"] == 1
    assert "Ray actor died" in sessions(root)["dialog"]["retried"]
