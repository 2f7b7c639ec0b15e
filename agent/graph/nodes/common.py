"""Helpers the nodes share: the current step, the working image, stopping a turn, step wording."""

from __future__ import annotations

from typing import Any

from PIL import Image

from agent.graph.context import Context
from agent.graph.plan import Step
from agent.graph.state import State


def current_step(state: State) -> Step:
    """The plan step being executed."""
    if state.plan is None:
        raise ValueError("no plan in the state")
    return state.plan.steps[state.step_index]


def working_image(state: State, ctx: Context) -> Image.Image:
    """The image this turn's next step edits: the latest draft, or the head version."""
    if state.draft is not None:
        return ctx.store.load_draft(state.draft)
    return ctx.store.version_image()


def stop(text: str, *, error: str | None = None, notes: list[str] | None = None) -> dict[str, Any]:
    """A state update that ends the turn without committing anything.

    Args:
        text: the sentence the user reads (what happened and what to do).
        error: a one-line reason for :attr:`agent.editor.Reply.error` (None for a plain stop, e.g. cancel).
        notes: the turn's notes so far, kept before ``text``.
    """
    return {"halt": True, "error": error, "notes": [*(notes or []), text], "question": None, "result": None}


def what(step: Step) -> str:
    """How a reply names a step's referent: "the cup", "the last edited region", "the marked area"."""
    ref = step.referent
    if ref is None or step.action == "global":     # a global step's phrase is a caption, not the user's words
        return "the image"
    if ref.last_edited:
        return "the last edited region"
    if ref.pointed and not ref.phrase.strip():
        return "the region you pointed at"
    if ref.phrase.strip():
        phrase = " ".join(ref.phrase.split())
        if ref.attributes:
            phrase += " (" + ", ".join(ref.attributes) + ")"
        return phrase if phrase.lower().startswith(("the ", "a ", "an ", "all ", "every ")) else f"the {phrase}"
    return "the marked area"


_CANNOT = {"patterns": "draw patterns", "materials": "render materials", "several colours": "paint several colours"}


def _recolour_kind(content: str) -> str:
    """Why a recolour went to diffusion ("patterns"...), or "" for the exact colour shift (or a refusal)."""
    from tools.color import classify_recolor
    from tools.errors import InvalidInputError

    try:
        return classify_recolor(content).why
    except InvalidInputError:
        return ""


_PLACES = {"leftmost": ("", " on the left"), "rightmost": ("", " on the right"), "topmost": ("", " at the top"),
           "bottommost": ("", " at the bottom"), "largest": ("largest ", ""), "smallest": ("smallest ", ""),
           "center": ("", " nearest the centre")}


def many(step: Step, count: int) -> str:
    """How a reply names ``count`` (> 1) things a step acted on: "both cups", "all 5 cups", "the 2 cups on
    the left", "3 cups"; "both" and "all" only when they were every match the step meant."""
    ref = step.referent
    if ref is None or ref.last_edited or not ref.phrase.strip():
        kind = "last edited regions" if ref is not None and ref.last_edited else "marked areas"
        return f"the {count} {kind}"
    noun = plural_phrase(ref.phrase)
    if ref.attributes:
        noun += " (" + ", ".join(ref.attributes) + ")"
    if ref.selector in _PLACES:
        before, after = _PLACES[ref.selector]
        return f"the {count} {before}{noun}{after}"
    if not ref.exclude and (ref.selector == "all" or ref.count == count):
        return f"both {noun}" if count == 2 else f"all {count} {noun}"
    return f"{count} {noun}"


def describe(step: Step, *, count: int = 1, words: str = "") -> str:
    """One sentence saying what an edit step did, in the user's terms.

    Never an internal prompt or caption: a DiffEdit step (a global step with a source caption)
    quotes the user's ``words`` (the turn's text) or says what it did plainly. A recolour that went
    to diffusion says so and why (the exact colour shift cannot draw patterns...). Several targets
    are counted: "Removed both cups.", "Removed all 5 cups.", "Made 3 cups red."
    """
    target = many(step, count) if count > 1 else what(step)
    content = " ".join(step.content.split())
    if step.action == "remove":
        return f"Removed {target}."
    if step.action == "replace":
        return f"Replaced {target}, each with {content}." if count > 1 else f"Replaced {target} with {content}."
    if step.action == "recolor":
        why = _recolour_kind(content)
        if why:
            return f"Repainted {target} as {content} (diffusion; the exact colour shift cannot {_CANNOT[why]})."
        return f"Made {target} {content}."
    if step.action == "add":
        return f"Added {content} at {target}."
    if step.action == "background":
        return f"Changed the background behind {target} to {content}."
    if step.action == "global":
        if step.referent is not None:       # DiffEdit: its captions are internal, the user's words are not
            said = " ".join(words.split())
            return f"Changed the picture as asked (\"{said}\")." if said else \
                "Changed only the part of the picture your request is about."
        return f"Applied \"{content}\" to the whole image."
    return f"Did {step.action}."


_TRIED = {"Removed": "remove", "Replaced": "replace", "Made": "make", "Repainted": "repaint", "Added": "add",
          "Changed": "change", "Applied": "apply"}


def tried(said: str) -> str:
    """A step's sentence (:func:`describe`, :func:`agent.graph.nodes.edit.added`) as an attempt, for a result the
    check doubts: "Made the cup red." → "Tried to make the cup red."."""
    verb, _, rest = said.partition(" ")
    return f"Tried to {_TRIED[verb]} {rest}" if verb in _TRIED and rest else said


def unchanged(step: Step, *, count: int = 1) -> str:
    """The sentence for a step whose result looks like its input inside its region: no change is claimed."""
    target = many(step, count) if count > 1 else what(step)
    content = " ".join(step.content.split())
    if step.action == "recolor" and content and not _recolour_kind(content):
        verb = "are" if count > 1 else "is"
        return f"{target[:1].upper()}{target[1:]} already {verb} {content}: nothing visible changed."
    return f"The edit of {target} made no visible change."


def goal(step: Step, *, words: str = "") -> str:
    """What a step's result should show, for a verdict sentence: "a red cup", "the cup gone"."""
    target = what(step)
    content = " ".join(step.content.split())
    ref = step.referent
    simple = ref is not None and ref.phrase.strip() and not ref.attributes and not ref.last_edited
    if step.action == "remove":
        return f"{target} gone"
    if step.action == "replace":
        return f"{content} in place of {target}"
    if step.action == "recolor":
        if simple:
            noun = strip_article(ref.phrase)         # type: ignore[union-attr]
            return f"{'an' if content[:1].lower() in 'aeiou' else 'a'} {content} {noun}"
        return f"{target} in {content}"
    if step.action == "add":
        return content
    if step.action == "background":
        return f"{content} behind {target}"
    said = " ".join((words if step.referent is not None else content).split())
    return f"the change you asked for (\"{said}\")" if said else "the change you asked for"


_ARTICLES = ("the ", "a ", "an ", "some ", "all ", "every ", "both ")
_IRREGULAR = {"person": "people", "man": "men", "woman": "women", "child": "children", "mouse": "mice",
              "goose": "geese", "foot": "feet", "tooth": "teeth", "ox": "oxen", "sheep": "sheep", "fish": "fish",
              "deer": "deer", "series": "series", "species": "species", "knife": "knives", "wife": "wives",
              "life": "lives", "leaf": "leaves", "loaf": "loaves", "shelf": "shelves", "wolf": "wolves",
              "half": "halves", "calf": "calves", "thief": "thieves", "scarf": "scarves", "potato": "potatoes",
              "tomato": "tomatoes", "hero": "heroes", "cactus": "cacti", "die": "dice", "glasses": "glasses",
              "scissors": "scissors", "pants": "pants", "jeans": "jeans", "trousers": "trousers"}
_JOINS = frozenset({"on", "in", "at", "with", "near", "by", "of", "from", "under", "over", "behind", "beside",
                    "next", "left", "right", "above", "below", "to", "that", "which", "who", "and", "or", "inside",
                    "outside", "between", "on-top"})
_NOT_COMPOUND = frozenset({"human", "german", "roman", "shaman", "talisman", "caiman", "ottoman", "walkman",
                           "wildlife", "bus"})


def ordinal(n: int) -> str:
    """1 → "1st", 2 → "2nd", 3 → "3rd", 11 → "11th", 22 → "22nd", 111 → "111th"."""
    n = int(n)
    if 10 <= abs(n) % 100 <= 20:
        return f"{n}th"
    return f"{n}" + {1: "st", 2: "nd", 3: "rd"}.get(abs(n) % 10, "th")


def plural(noun: str) -> str:
    """The plural of one English noun: cup → cups, glass → glasses, person → people, leaf → leaves."""
    word = noun.strip()
    low = word.lower()
    if not low:
        return word
    if low in _IRREGULAR:
        out = _IRREGULAR[low]
        return out.capitalize() if word[:1].isupper() else out
    for irregular, many in _IRREGULAR.items():          # compounds: "policeman" → "policemen", "bookshelf"
        if low.endswith(irregular) and len(irregular) >= 3 and irregular not in ("die", "ox") \
                and low not in _NOT_COMPOUND:
            return word[: len(word) - len(irregular)] + many
    if low in _IRREGULAR.values() or (low.endswith("s") and not low.endswith(("ss", "us", "is", "as"))):
        return word                                  # already plural: "cups", "people", "boxes"
    if low.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    if low.endswith("y") and len(low) > 1 and low[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def strip_article(phrase: str) -> str:
    """``phrase`` without a leading article or quantifier: "the red cup" → "red cup"."""
    text = " ".join(str(phrase).split())
    while text.lower().startswith(_ARTICLES):
        text = text.split(" ", 1)[1] if " " in text else ""
    return text


def plural_phrase(phrase: str) -> str:
    """A noun phrase plural at its head noun: "red cup" → "red cups", "cup on the left" → "cups on the left"."""
    words = strip_article(phrase).split()
    if not words:
        return ""
    head = len(words) - 1
    for i, w in enumerate(words[1:], 1):            # the head noun comes before the first joining word
        if w.lower() in _JOINS:
            head = i - 1
            break
    words[head] = plural(words[head])
    return " ".join(words)


def count_noun(n: int, phrase: str) -> str:
    """"1 cup", "2 cups", "no cups": a number and a noun phrase that agree."""
    noun = strip_article(phrase)
    if n == 1:
        return f"1 {noun}"
    return f"{'no' if n == 0 else n} {plural_phrase(noun)}"


def versions_text(numbers: list[int]) -> str:
    """Version numbers as short ranges: [1, 2, 3, 7] → "v1–v3 and v7"."""
    runs: list[str] = []
    start = prev = None
    for n in sorted(numbers):
        if prev is not None and n == prev + 1:
            prev = n
            continue
        if start is not None:
            runs.append(f"v{start}" if start == prev else f"v{start}–v{prev}")
        start = prev = n
    if start is not None:
        runs.append(f"v{start}" if start == prev else f"v{start}–v{prev}")
    return runs[0] if len(runs) == 1 else ", ".join(runs[:-1]) + " and " + runs[-1]
