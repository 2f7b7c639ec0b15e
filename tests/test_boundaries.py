"""The layers depend one way only: tui.py → agent → tools."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def _top(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_tools_imports_neither_langgraph_nor_textual():
    statement = "import tools, tools.toolkit, tools.cli, tools.masks, tools.imageio, tools.edits, tools.inpainting"
    top = _top(_modules_after(statement))
    assert "langgraph" not in top and "textual" not in top and "agent" not in top and "tui" not in top


def test_agent_never_imports_textual():
    top = _top(_modules_after("import agent.plan, agent.editor"))
    assert "textual" not in top and "tui" not in top


def test_importing_tui_does_not_import_torch():
    top = _top(_modules_after("import tui"))
    assert "torch" not in top and "transformers" not in top and "diffusers" not in top


def test_no_source_file_imports_against_the_layers():
    offenders = []
    for path in (ROOT / "tools").rglob("*.py"):
        text = path.read_text()
        for bad in ("import agent", "from agent", "import tui", "from tui", "langgraph", "import textual",
                    "from textual"):
            if bad in text:
                offenders.append(f"{path.relative_to(ROOT)}: {bad}")
    for path in (ROOT / "agent").rglob("*.py"):
        text = path.read_text()
        for bad in ("import textual", "from textual", "import tui", "from tui"):
            if bad in text:
                offenders.append(f"{path.relative_to(ROOT)}: {bad}")
    assert offenders == []
