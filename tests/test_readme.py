"""The README's code runs: every python block, every `chatedit edit` line on the tiny profile; every other
`chatedit` command parses as written, every option it names exists, and its lite timings are RESULTS.md's."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def _edit_lines() -> list[str]:
    lines = []
    for block in _blocks("sh"):
        for line in block.splitlines():
            line = line.split("  #", 1)[0].strip()
            if line.startswith("chatedit edit "):
                lines.append(line)
    return lines


def test_readme_has_runnable_code():
    assert _blocks("python") and len(_edit_lines()) >= 5


@pytest.mark.parametrize("line", _edit_lines())
def test_readme_edit_commands_work(line, tmp_path, monkeypatch, capsys):
    from tools.cli import main
    from tools.samples import sample_image

    monkeypatch.chdir(tmp_path)
    sample_image("coffee").save(tmp_path / "photo.jpg")
    argv = shlex.split(line)[2:] + ["--profile", "tiny"]
    if "-o" not in argv:
        argv += ["-o", "out.png"]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 0, err


@pytest.mark.parametrize("index", range(len(_blocks("python"))))
def test_readme_python_blocks_run(index, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_DATA_HOME": str(tmp_path / "data")}
    code = _blocks("python")[index]
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def test_readme_diagram_is_the_graph_as_built():
    from agent.graph import compile_graph

    [diagram] = _blocks("mermaid")
    assert diagram.strip() == compile_graph().get_graph().draw_mermaid().strip()


def test_readme_session_file_example_parses(tmp_path):
    from agent.scripted.session_file import load_session_file

    [example] = _blocks("yaml")
    path = tmp_path / "example.yaml"
    path.write_text(example)
    spec = load_session_file(path).spec
    assert [t.kind for t in spec.turns] == ["user", "user", "answer", "undo"]


VLLM_FLAGS = {"--help", "--host", "--port", "--max-model-len", "--limit-mm-per-prompt",
              "--chat-template-content-format", "--chat-template", "--api-key"}
"""`vllm serve`'s own options, in 'Serving the planner' (and argparse's --help)."""


def _defined_flags() -> set[str]:
    """Every option an ``add_argument`` call of this repository defines (chatedit's commands and the benchmarks)."""
    files = [ROOT / "tui_args.py", *ROOT.glob("agent/**/*.py"), *ROOT.glob("tools/**/*.py"),
             *ROOT.glob("benchmarks/**/*.py")]
    flags: set[str] = set()
    for path in files:
        text = path.read_text()
        for call in re.findall(r"add_argument\(([^)]*)", text):
            flags.update(re.findall(r"[\"'](--[a-z][a-z0-9-]*)[\"']", call))
        flags.update(f"--no-{name}" for name in re.findall(
            r"add_argument\(\s*[\"']--([a-z][a-z0-9-]*)[\"'],\s*action=argparse\.BooleanOptionalAction", text))
    return flags


def test_every_flag_the_readme_names_exists():
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", re.sub(r"unknown option --\S+", "", README)))
    unknown = sorted(named - _defined_flags() - VLLM_FLAGS)
    assert not unknown, f"the README names options no command has: {unknown}"


def _chatedit_commands() -> list[str]:
    """Every `chatedit ...` / `chatedit run ...` command the README writes (code blocks and inline), but `edit`
    (run for real above) and `sessions`."""
    found = [line.split("  #", 1)[0].strip() for block in _blocks("sh") for line in block.splitlines()]
    found += re.findall(r"`(chatedit[^`]*)`", README)
    return sorted({c for c in found if re.match(r"chatedit(?: |$)", c) and not c.startswith(("chatedit edit",
                                                                                               "chatedit sessions"))})


@pytest.mark.parametrize("command", _chatedit_commands())
def test_readme_chatedit_commands_parse_as_written(command):
    """Each documented command line is taken by its parser as written (placeholders filled in)."""
    from agent.scripted.runner import build_parser as run_parser
    from tui_args import build_parser

    filled = command.replace("[IMAGE]", "coffee").replace("[DIR]", "DIR").replace("[", "").replace("]", "")
    argv = shlex.split(filled)[1:]
    parser = run_parser() if argv[:1] == ["run"] else build_parser()
    args = parser.parse_args(argv[1:] if argv[:1] == ["run"] else argv)
    assert args is not None


@pytest.mark.parametrize(("command", "flags"), [
    ("chatedit", ["--engine", "--quality", "--verify", "--no-verify", "--planner", "--planner-model", "--resume",
                  "--read-only", "--session", "--image-mode", "--profile"]),
    ("chatedit run", ["--engine", "--quality", "--verify", "--no-verify", "--planner", "--planner-model",
                      "--profile", "--out", "--jobs", "--ray", "--replay"]),
    ("chatedit edit", ["--engine", "--quality", "--profile", "--seed", "--steps", "--device", "--pick", "--dtype",
                       "--mask-out", "--method"]),
])
def test_the_readme_says_which_command_takes_which_flag_truly(command, flags):
    from agent.scripted.runner import build_parser as run_parser
    from tools.cli import build_parser as edit_parser
    from tui_args import build_parser

    parser = {"chatedit": build_parser, "chatedit run": run_parser, "chatedit edit": edit_parser}[command]()
    options = {s for action in parser._actions for s in action.option_strings}
    assert set(flags) <= options, sorted(set(flags) - options)


def test_the_readmes_lite_timings_are_the_ones_in_results():
    """The Performance section's lite numbers are RESULTS.md's run e (and g, 759.2 s before), rounded."""
    results = (ROOT / "benchmarks" / "RESULTS.md").read_text()
    row = next(line for line in results.splitlines() if line.startswith("| e. "))
    cells = [c.strip().strip("*") for c in row.split("|")[1:-1]]
    turn, plan, locate, segment, edit, saucer = cells[3].split()[0], *cells[4:8], cells[8]
    said = re.search(r"lite's \"remove the cup\" takes ([\d.]+) s\s+\(plan ([\d.]+), locate ([\d.]+), segment "
                     r"([\d.]+), edit ([\d.]+)\) and \"make the saucer blue\" ([\d.]+) s", README)
    assert said is not None
    for readme, measured in zip(said.groups(), (turn, plan, locate, segment, edit, saucer), strict=True):
        assert abs(float(readme) - float(measured.strip("*"))) <= 0.051, (readme, measured)
    assert "759.2" in results and "before: 759 s a turn" in README
    assert "| 3,800 | 10.1 | 54.3 | 0.19 | 135.2 | 92.1 |" in results and "92 ms a token at a 3.8k context against " \
        "SDPA's 135 ms" in " ".join(README.split())
    assert "47.7" in results and "808.1" in results and "| 47.7 s" in README and "| 808 s" in README


def test_the_readmes_lite_download_total_is_what_the_profile_needs():
    from tools.profiles import LITE
    from tools.readiness import needed

    total = sum(spec.download_gb for spec in needed(LITE))
    assert f"lite: {total:.1f} GB with the LCM-LoRA" in " ".join(README.split())
