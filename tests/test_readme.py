"""The README's code runs: every python block, and every `chatedit edit` line on the tiny profile."""

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
