"""The planner's and verifier's prompts, as text files rendered with strict ``$name`` templates."""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

PROMPTS_DIR = Path(__file__).resolve().parent
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class PromptTemplateError(ValueError):
    """A prompt template is missing, malformed, or was given the wrong values."""


def names() -> list[str]:
    """Every prompt this package holds (file stems of ``prompts/*.txt``)."""
    return sorted(p.stem for p in PROMPTS_DIR.glob("*.txt"))


def placeholders(name: str) -> set[str]:
    """The ``$name`` placeholders of prompt ``name``."""
    return set(_template(name).get_identifiers())


def render(name: str, **values: str | int | float) -> str:
    """Render ``prompts/<name>.txt``, substituting ``$placeholder`` (or ``${placeholder}``).

    Strict both ways: every placeholder in the file needs a value, and every value needs a
    placeholder. ``$$`` writes a literal ``$``. Values are inserted as text once; a ``$`` inside
    a value is not expanded again.

    Raises:
        PromptTemplateError: unknown prompt, a malformed ``$`` in the file, a placeholder without
            a value, a value without a placeholder, or a value that is not text or a number.
    """
    template = _template(name)
    wanted = set(template.get_identifiers())
    missing = sorted(wanted - values.keys())
    extra = sorted(values.keys() - wanted)
    if missing:
        raise PromptTemplateError(f"prompt {name!r} needs values for {', '.join(missing)}")
    if extra:
        raise PromptTemplateError(f"prompt {name!r} has no placeholder for {', '.join(extra)}")
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise PromptTemplateError(f"prompt {name!r}: value for {key} must be text or a number, "
                                      f"got {type(value).__name__}")
    return template.substitute({k: str(v) for k, v in values.items()})


def _template(name: str) -> Template:
    if not isinstance(name, str) or not _NAME.match(name):
        raise PromptTemplateError(f"prompt name must be lowercase letters, digits and _, got {name!r}")
    path = PROMPTS_DIR / f"{name}.txt"
    if not path.is_file():
        raise PromptTemplateError(f"no prompt {name!r} (looked for {path}); known: {', '.join(names())}")
    template = Template(path.read_text(encoding="utf-8"))
    if not template.is_valid():
        bad = _first_invalid(template.template)
        raise PromptTemplateError(f"prompt {name!r} has a malformed placeholder near {bad!r}; "
                                  f"write $name or ${{name}}, and $$ for a literal $")
    return template


def _first_invalid(text: str) -> str:
    for match in Template.pattern.finditer(text):
        if match.group("invalid") is not None:
            start = match.start("invalid")
            return text[max(0, start - 10):start + 20]
    return ""
