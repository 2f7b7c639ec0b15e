"""Smoke runs of the benchmarks on the tiny profile: they run end to end and report every number (no timing asserts)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def bench(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_the_session_benchmark_times_every_stage_on_the_tiny_profile(tmp_path, capsys):
    out = tmp_path / "tiny.json"
    assert bench("bench_session").main(["--runs", "1", "--warmup", "0", "--plan-tokens", "4", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["problems"] == [], "every turn of the benchmark session must commit a version"
    summary = result["summary"]
    for turn in ("turn1", "turn2"):
        for stage in ("plan", "locate", "segment", "edit", "commit", "wall", "agent_overhead", "model_compute"):
            assert summary[f"{turn}.{stage}"]["median"] >= 0, (turn, stage)
        parts = sum(summary[f"{turn}.{s}"]["median"] for s in ("plan", "locate", "segment", "edit", "commit"))
        assert parts <= summary[f"{turn}.wall"]["median"] * 1.01 + 0.01, "stages add up to no more than the turn"
    assert set(result["load_s"]) == {"planner", "grounding", "segmentation", "inpainting"}
    assert result["memory_plan"].startswith("memory: CPU")
    assert summary["undo.wall"]["n"] == 1 and result["peak_rss_mb"] > 0
    assert (result["dtype"], result["dtype_reason"], result["verify"]) == ("float32", "profile", False)  # tiny's
    assert result["first_turn_s"] > 0 and result["warmup_wait_after_loads_s"] >= 0
    printed = capsys.readouterr().out
    assert "1. remove the cup" in printed and "cold start (all)" in printed and "first turn after" in printed
    args = bench("bench_session").parse_args(["--no-verify", "--dtype", "bfloat16"])
    assert (args.verify, args.dtype) == (False, "bfloat16")


def test_the_cpu_side_benchmark_reports_start_up_and_history_moves(tmp_path, capsys):
    out = tmp_path / "cpu.json"
    assert bench("bench_cpu_side").main(["--versions", "3", "--size", "300x200", "--repeats", "1",
                                          "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["torch_imported"]["import agent"] == "no"
    assert result["torch_imported"]["import tui"] == "no"
    assert set(result["history_s"]) >= {"undo 1", "revert to the original and back", "reopen the session (imports done)"}
    assert result["versions"] == 3 and all(v >= 0 for v in result["history_s"].values())


def test_the_readme_benchmark_commands_parse():
    import shlex

    lines = [ln.split("#")[0] for ln in (ROOT / "README.md").read_text().splitlines()
             if "benchmarks/bench_session.py" in ln and ln.startswith(".venv/bin/python")]
    assert len(lines) >= 5
    session = bench("bench_session")
    for line in lines:
        args = session.parse_args(shlex.split(line)[2:])
        assert args.runs >= 1, line


def test_the_stage_clock_books_prompt_encoding_to_edit_not_to_segment(tmp_path, coffee, tiny_profile, monkeypatch):
    """The edit tools report (0, n) before the model runs, so the text encoder's time lands in "edit"."""
    import time

    from agent.editor import Editor
    from tests.agent_fakes import FixedDetections, QueuePlanner, det, plan

    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    from harness import StageClock

    toolkit = FixedDetections(tiny_profile, {"cup": [det((40, 30, 110, 90))]})
    for role in ("segmentation", "inpainting"):
        toolkit.load(role)
    encoded = []
    slow = toolkit.inpainter.pipe.text_encoder.register_forward_hook(
        lambda *_: encoded.append(time.sleep(0.5)))     # before the first step: the old clock booked it to segment
    planner = QueuePlanner().push(plan({"action": "remove", "referent": {"phrase": "cup"}}))
    editor = Editor.open(coffee.resize((160, 120)), profile=tiny_profile, session_dir=tmp_path / "s",
                         planner=planner, toolkit=toolkit)
    clock = StageClock()
    editor.on_progress = clock
    try:
        clock.start()
        reply = editor.send("remove the cup")
        stages = clock.stop()
    finally:
        slow.remove()
        editor.close()
    assert reply.version == 1
    assert encoded and stages["edit"] >= 0.5 * len(encoded), stages


def test_the_random_planners_tokenizer_counts_near_a_released_qwen2_tokenizer(monkeypatch):
    """Qwen2's split pattern bounds any Qwen2-style count from below (BPE never merges across its pieces); the
    released 151k vocabulary makes most words one token, and so does the random planner's trained BPE."""
    from tokenizers import Regex, pre_tokenizers

    from agent.graph.planning import system_prompt

    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import random_weights

    tokenizer = random_weights.qwen2_english_tokenizer()
    text = system_prompt()
    pieces = len(pre_tokenizers.Split(Regex(random_weights.QWEN2_PRETOKENIZE), behavior="isolated")
                 .pre_tokenize_str(text))
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert pieces <= len(ids) <= 1.08 * pieces, (len(ids), pieces)
    assert tokenizer.decode(ids) == text
    specials = random_weights.QWEN2_SPECIALS
    assert {t: tokenizer.convert_tokens_to_ids(t) for t in specials} == specials
    reply = bench("bench_session").SESSION[0][1]
    assert 60 <= len(tokenizer(reply, add_special_tokens=False)["input_ids"]) <= 85      # real plans: 30-85


def test_the_benchmark_planner_writes_the_pinned_plan_through_the_plan_grammar(tiny_profile, monkeypatch):
    from langchain_core.messages import HumanMessage

    from agent.graph.planning import decoding_schema
    from agent.planner import load_planner
    from tools.device import resolve_placement

    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    from harness import FixedLengthPlanner

    model = load_planner(tiny_profile, resolve_placement("cpu"))
    planner = FixedLengthPlanner(model=model)
    reply = bench("bench_session").SESSION[0][1]
    planner.pin([reply])
    out = planner.invoke([HumanMessage("remove the cup")], json_schema=decoding_schema())
    kind, _, _, tokens, forced = planner.calls[-1]
    assert (out.content, kind, forced) == (reply, "plan", True)
    assert tokens == len(model.llava.tokenizer.encode(reply, add_special_tokens=False)) + 1     # and the stop token
    planner.pin(["this is not JSON"])                     # the grammar refuses it: the forcing breaks, no crash
    planner.invoke([HumanMessage("remove the cup")], json_schema=decoding_schema(), max_new_tokens=8)
    assert planner.calls[-1][-1] is False


def test_before_puts_back_lites_settings_as_shipped_before_issue_13():
    session = bench("bench_session")
    args = session.parse_args(["--before", "--steps", "4", "--turns", "1"])
    profile = session.load_profile(args, is_cuda=False)
    assert (profile.cpu_dtype, profile.planner_image, profile.verify, profile.grounding_edge, profile.quality,
            profile.steps) == ("float32", "anyres", True, 800, "balanced", 4)
    assert session.load_profile(session.parse_args(["--before", "--no-verify"]), is_cuda=False).verify is False
    assert args.turns == 1 and session.parse_args([]).plan_tokens is None


@pytest.mark.slow
def test_the_session_benchmark_times_the_plain_call_of_every_stage(tmp_path, capsys):
    out = tmp_path / "tiny.json"
    assert bench("bench_session").main(["--runs", "1", "--warmup", "0", "--turns", "1", "--baseline",
                                        "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["problems"] == [] and result["turns"] == 1 and "turn2.wall" not in result["summary"]
    assert result["summary"]["turn1.plan_tokens"]["median"] >= 60          # the pinned plan, written constrained
    same = "plan, after the same cached prefix"        # the plain call doing our cached plan's work
    assert set(result["baseline_s"]) == {"plan", same, "locate", "segment", "edit"}
    assert all(v > 0 for v in result["baseline_s"].values())
    assert result["baseline_s"][same] < result["baseline_s"]["plan"]    # the system turn is not prefilled again
    printed = capsys.readouterr().out
    assert "ours / plain" in printed and "plan tokens written (constrained)" in printed
