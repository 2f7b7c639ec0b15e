"""The layers depend one way only: tui.py and its tui_*.py modules → agent → tools."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TUI_MODULES = sorted(p.stem for p in ROOT.glob("tui*.py"))
"""tui.py and every tui_*.py module beside it: the top layer."""


def _modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def _top(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_tools_imports_neither_langgraph_nor_textual():
    statement = "import tools, tools.toolkit, tools.cli, tools.masks, tools.imageio, tools.edits, tools.inpainting"
    top = _top(_modules_after(statement))
    assert "langgraph" not in top and "textual" not in top and "agent" not in top
    assert not top & set(TUI_MODULES)


def test_agent_never_imports_textual():
    top = _top(_modules_after("import agent.graph.plan, agent.editor, agent.session.sessions"))
    assert "textual" not in top and not top & set(TUI_MODULES)


def test_every_tui_module_is_installed():
    """A tui_*.py module missing from pyproject's py-modules would be absent from an installed chatedit."""
    import tomllib

    listed = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["py-modules"]
    assert set(TUI_MODULES) <= set(listed)


@pytest.mark.parametrize("module", TUI_MODULES)
def test_importing_tui_does_not_import_torch(module):
    modules = _modules_after(f"import {module}")
    top = _top(modules)
    assert "torch" not in top and "transformers" not in top and "diffusers" not in top
    assert "agent.editor" not in modules


def _imports(path: Path) -> set[str]:
    """Top-level package names a source file imports (import statements only, not prose)."""
    names = set()
    for line in path.read_text().splitlines():
        match = re.match(r"\s*(?:from\s+([\w.]+)\s+import|import\s+([\w.]+))", line)
        if match:
            names.add((match.group(1) or match.group(2)).split(".")[0])
    return names


def test_no_source_file_imports_against_the_layers():
    offenders = []
    for path in (ROOT / "tools").rglob("*.py"):
        bad = _imports(path) & {"agent", *TUI_MODULES, "langgraph", "textual", "langchain_core"}
        offenders += [f"{path.relative_to(ROOT)}: {name}" for name in sorted(bad)]
    for path in (ROOT / "agent").rglob("*.py"):
        bad = _imports(path) & {*TUI_MODULES, "textual", "textual_image"}
        offenders += [f"{path.relative_to(ROOT)}: {name}" for name in sorted(bad)]
    # the widgets only show what the app hands them: no Editor, no models (the app's worker does that)
    bad = _imports(ROOT / "tui_widgets.py") & {"agent", "tui", "torch", "transformers", "diffusers", "langgraph"}
    offenders += [f"tui_widgets.py: {name}" for name in sorted(bad)]
    assert offenders == []
