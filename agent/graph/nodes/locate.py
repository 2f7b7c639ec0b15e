"""The locate node: from a step's referent to the box(es) it means, or a question, or "not found".

The matches of the referent's phrase are narrowed in a fixed order: detection (weak scores dropped),
attributes (:mod:`agent.graph.attributes`), the relation to an anchor (:mod:`agent.graph.relations`),
exclusions ("all except the left one"), then the selector and the count ("both", "the two on the
left"). Whatever cannot be settled is asked or said; the step never acts on a different number of
things than the user named without saying so.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from langgraph.runtime import Runtime

from agent.graph.attributes import Narrowed, narrow
from agent.graph.context import Context
from agent.graph.nodes.common import count_noun, current_step, ordinal, stop, strip_article, what, working_image
from agent.graph.plan import Anchor, Exclusion, Referent
from agent.graph.pointing import pick, refers_to_pointing, region_box
from agent.graph.referents import reading_order, select
from agent.graph.relations import WORDS, ranked, related
from agent.graph.state import CandidatePayload, QuestionPayload, State
from agent.session.records import EditRecord
from tools.boxes import clip_box
from tools.errors import ChatEditError

logger = logging.getLogger(__name__)

_NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine", 10: "ten"}


class _Stop(Exception):
    """Ends the step with a sentence (raised deep in the narrowing, turned into :func:`stop` by the node)."""


def last_region(state: State, ctx: Context) -> EditRecord | None:
    """The most recent edit record with a box: this turn's first, then the history's."""
    for record in reversed(state.records):
        if record.box is not None:
            return record
    return ctx.store.history.last_region()


def _kind(phrase: str) -> str:
    return strip_article(phrase) or "thing"


def _the(phrase: str, attributes: list[str] | None = None) -> str:
    """"the cup", "the red cup", "the person (black top)"."""
    attrs = [a.strip() for a in attributes or [] if a.strip()]
    if all(" " not in a for a in attrs):
        return "the " + " ".join([*attrs, _kind(phrase)])
    return f"the {_kind(phrase)} ({', '.join(attrs)})"


def _many(n: int, phrase: str) -> str:
    """"1 cup", "3 cups"."""
    return count_noun(n, _kind(phrase))


class _Finder:
    """Detection and attribute checks on one image, for one step."""

    def __init__(self, ctx: Context, image: Any) -> None:
        self.ctx, self.image = ctx, image
        self._pixels: np.ndarray | None = None

    def detect(self, phrase: str) -> list[Any]:
        dets = list(self.ctx.tools.detect(self.image, phrase))
        if dets:
            best = max(d.score for d in dets)
            dets = [d for d in dets if d.score >= self.ctx.min_relative_score * best]
        return dets

    def narrow(self, items: list[Any], phrase: str, attributes: list[str]) -> Narrowed:
        if not attributes or not items:
            return Narrowed(list(items))
        if self._pixels is None:
            self._pixels = np.asarray(self.image.convert("RGB"))
        return narrow(items, _kind(phrase), attributes, pixels=self._pixels, detect=self.detect,
                      min_relative_score=self.ctx.min_relative_score, min_iou=self.ctx.attribute_iou)


def _anchors(finder: _Finder, anchor: Anchor, kind: str, relation: str, notes: list[str]) -> list[Any]:
    """The anchor's boxes: detected, narrowed by its attributes and selector (several: the relation holds to any)."""
    found = finder.detect(anchor.phrase)
    name = _the(anchor.phrase, anchor.attributes)
    if not found:
        raise _Stop(f"I couldn't find {name} in the image, so I can't tell which {kind} is "
                    f"{WORDS[relation]} it. Nothing changed; try naming it another way.")
    narrowed = finder.narrow(found, anchor.phrase, anchor.attributes)
    if narrowed.unconfirmed and len(narrowed.kept) > 1:
        notes.append(f"I could not tell which {_kind(anchor.phrase)} is {' and '.join(narrowed.unconfirmed)}, "
                     f"so I looked {WORDS[relation]} each of the {len(narrowed.kept)} I found.")
    anchors = narrowed.kept
    if anchor.selector is not None:
        anchors = select(anchors, anchor.selector, n=anchor.n, image_size=finder.image.size)
        if not anchors:
            raise _Stop(f"I found only {_many(len(narrowed.kept), anchor.phrase)}, so there is no "
                        f"{ordinal(anchor.n or 0)} from the {'left' if anchor.selector == 'nth_from_left' else 'right'}"
                        ". Nothing changed.")
    return anchors


def _leave_out(finder: _Finder, pool: list[Any], ex: Exclusion, phrase: str) -> list[Any]:
    """The matches of ``pool`` one exclusion names."""
    subset = pool
    if ex.attributes:
        narrowed = finder.narrow(pool, phrase, ex.attributes)
        if narrowed.unconfirmed:
            raise _Stop(f"I found {_many(len(pool), phrase)} but could not tell which "
                        f"{'is' if (ex.count or 1) == 1 else 'are'} {' and '.join(narrowed.unconfirmed)}, so I "
                        "don't know which to leave out. Nothing changed; say which by position "
                        "(\"all except the left one\").")
        subset = narrowed.kept
    if ex.selector in ("nth_from_left", "nth_from_right"):
        picked = select(subset, ex.selector, n=ex.n)
        if not picked:
            raise _Stop(f"I found only {_many(len(subset), phrase)}, so there is no {ordinal(ex.n or 0)} from the "
                        f"{'left' if ex.selector == 'nth_from_left' else 'right'} to leave out. Nothing changed.")
        return picked
    if ex.selector is not None and ex.selector != "all":
        return ranked(subset, ex.selector, finder.image.size)[: ex.count or 1]
    return subset


def _narrowed(finder: _Finder, ref: Referent, notes: list[str]) -> tuple[list[Any], list[str], str]:
    """The matches left after attributes, relation and exclusions; unconfirmed attributes; where they are
    ("left of the plate", or "" without a relation)."""
    phrase, kind = ref.phrase, _kind(ref.phrase)
    pool = finder.detect(phrase)
    if not pool:
        raise _Stop(f"I couldn't find {_the(phrase, ref.attributes)} in the image. Nothing changed; try naming it "
                    "another way (a more common word, or where it is: \"the thing on the left\").")
    narrowed = finder.narrow(pool, phrase, ref.attributes)
    pool, unconfirmed = narrowed.kept, narrowed.unconfirmed
    where = ""
    if ref.relation is not None and ref.anchor is not None:
        anchors = _anchors(finder, ref.anchor, kind, ref.relation, notes)
        near = related(pool, [a.box for a in anchors], ref.relation)
        where = f"{WORDS[ref.relation]} {_the(ref.anchor.phrase, ref.anchor.attributes)}"
        if not near:
            raise _Stop(f"I found {_many(len(pool), phrase)} and {_the(ref.anchor.phrase, ref.anchor.attributes)}, "
                        f"but no {kind} {where}. Nothing changed.")
        pool = near
    if ref.exclude:
        left_out: list[Any] = []
        for ex in ref.exclude:
            left_out += [d for d in _leave_out(finder, pool, ex, phrase) if d not in left_out]
        rest = [d for d in pool if d not in left_out]
        if not rest:
            raise _Stop(f"I found {_many(len(pool), phrase)}, and leaving out "
                        f"{'that one' if len(left_out) == 1 else 'those'} leaves none. Nothing changed.")
        pool = rest
    return pool, unconfirmed, where


def _chosen(pool: list[Any]) -> list[list[float]]:
    return [[float(v) for v in d.box] for d in pool]


def locate(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Find what the current step acts on.

    Exactly the boxes the referent means (one, the counted number, or every box for "all") →
    ``chosen``; several with nothing to choose by → ``question`` (the clarify node asks); none, too
    few, or an anchor that is not there → the turn stops with a reply that says so.
    """
    ctx = runtime.context
    ctx.report("locate")
    step = current_step(state)
    ref = step.referent
    if ref is None:
        raise ValueError(f"step {state.step_index} ({step.action}) has no referent to locate")
    reset = {"chosen": [], "mask": None, "question": None, "result": None, "attempt": 0}
    image = working_image(state, ctx)
    size = image.size

    if refers_to_pointing(ref, state.pointing):
        if state.pointing is not None:
            return {**reset, "chosen": [list(region_box(state.pointing, size))]}
        if not ref.phrase.strip():
            return stop("You said \"this\" or \"here\", but nothing is pointed at. Nothing changed; click on the "
                        "image (or drag a box) as you say it, or name the thing.", error="nothing pointed at",
                        notes=state.notes)

    if ref.last_edited:
        record = last_region(state, ctx)
        if record is None:
            return stop("There is no earlier edit for \"it\" to refer to yet. Nothing changed; "
                        "say which object you mean.", notes=state.notes)
        return {**reset, "chosen": [list(record.box)]}

    if ref.box is not None:
        x0, y0, x1, y1 = ref.box
        if x1 - x0 < 1 or y1 - y0 < 1:
            return stop(f"The box {[round(v, 1) for v in ref.box]} is less than a pixel wide or tall, so it marks "
                        "nothing. Nothing changed; mark a larger area.", error="empty box", notes=state.notes)
        box = clip_box(ref.box, size)
        if box is None:
            return stop(f"The box {[round(v) for v in ref.box]} lies outside the {size[0]}x{size[1]} image. "
                        "Nothing changed; point at something inside the picture.",
                        error="box outside the image", notes=state.notes)
        return {**reset, "chosen": [list(box)]}

    notes = list(state.notes)
    finder = _Finder(ctx, image)
    try:
        pool, unconfirmed, where = _narrowed(finder, ref, notes)
    except _Stop as e:
        return stop(str(e), notes=notes)
    except ChatEditError as e:
        return stop(f"Finding {what(step)} failed: {e}. Nothing changed.", error=str(e), notes=notes)
    if state.pointing is not None and len(pool) > 1 and ref.selector is None and ref.count is None:
        index = pick([d.box for d in pool], state.pointing)        # "make the cup red" + a click on one cup
        if index is not None:
            pool = [pool[index]]
    return {**reset, **_decide(ctx, state, image, ref, pool, unconfirmed=unconfirmed, where=where, notes=notes)}


def _decide(ctx: Context, state: State, image: Any, ref: Referent, pool: list[Any], *, unconfirmed: list[str],
            where: str, notes: list[str]) -> dict[str, Any]:
    """From the narrowed matches to ``chosen``, a ``question``, or a stop, by the selector and the count."""
    size = image.size
    want = ref.count if ref.count is not None and ref.count > 1 else None
    found = _many(len(pool), ref.phrase) + (f" {where}" if where else "")
    unsure = " and ".join(unconfirmed)
    if unconfirmed and len(pool) > 1:
        return {"notes": notes, "question": _question(
            ctx, state, image, pool, ref, want=want,
            why=f"I found {found} but could not tell which "
                f"{'one is' if (want or 1) == 1 else 'are'} {unsure}.")}
    if unconfirmed:
        notes.append(f"I could not confirm that the {_kind(ref.phrase)} is {unsure}; I went ahead with the only "
                     f"{_kind(ref.phrase)}{f' {where}' if where else ''} I found.")

    if ref.selector in ("nth_from_left", "nth_from_right"):
        chosen = select(pool, ref.selector, n=ref.n, image_size=size)
        if not chosen:
            side = "left" if ref.selector == "nth_from_left" else "right"
            return stop(f"I found only {_many(len(pool), ref.phrase)}, so there is no {ordinal(ref.n or 0)} from the "
                        f"{side}. Nothing changed.", notes=notes)
        return {"notes": notes, "chosen": _chosen(chosen)}

    if want is not None:
        if len(pool) < want:
            return stop(f"I found only {found}, not {want}. "
                        "Nothing changed; say which you mean, or point at them.", notes=notes)
        if ref.selector not in (None, "all"):
            return {"notes": notes, "chosen": _chosen(ranked(pool, ref.selector, size)[:want])}
        if len(pool) == want:
            return {"notes": notes, "chosen": _chosen(reading_order(pool))}
        return {"notes": notes, "question": _question(
            ctx, state, image, pool, ref, want=want,
            why=f"I found {found}; you said {_NUMBER_WORDS.get(want, str(want))}.")}

    if ref.selector == "all" or (ref.exclude and ref.selector is None):      # "the cups except the red one"
        return {"notes": notes, "chosen": _chosen(reading_order(pool))}
    chosen = select(pool, ref.selector, n=ref.n, image_size=size)
    if len(chosen) == 1:
        return {"notes": notes, "chosen": _chosen(chosen)}
    return {"notes": notes, "question": _question(ctx, state, image, pool, ref, want=None, why=f"I found {found}.")}


def _question(ctx: Context, state: State, image: Any, pool: list[Any], ref: Referent, *, want: int | None,
              why: str) -> QuestionPayload:
    """The question for several matches: numbered candidates (best first, then left to right) and every match."""
    from tools.masks import annotate

    shown = reading_order(sorted(pool, key=lambda d: -d.score)[: ctx.max_candidates])
    candidates: list[CandidatePayload] = [
        {"number": i + 1, "box": [float(v) for v in d.box], "label": str(d.label), "score": float(d.score)}
        for i, d in enumerate(shown)]
    ctx.store.persist_drafts()                  # the question may outlive this process; so must its drafts
    image_id = ctx.store.put_question_image(annotate(image, [tuple(c["box"]) for c in candidates],
                                                     [c["label"] for c in candidates]))
    k = len(candidates)
    text = why
    if k < len(pool):
        text += f" Here are the {k} most likely, numbered on the picture."
    if want is not None and want > 1:
        text += (f" Which {_NUMBER_WORDS.get(want, str(want))} do you mean? Answer with {want} numbers "
                 f"(like \"1 and 2\"), positions like \"the two on the left\", \"all\", or \"cancel\".")
    else:
        text += (f" Which one do you mean? Answer with a number (1-{k}), a position like \"the left one\", "
                 "\"all\", or \"cancel\".")
    question: QuestionPayload = {"text": text, "candidates": candidates, "image": image_id, "size": list(image.size),
                                 "step": state.step_index, "phrase": _kind(ref.phrase),
                                 "matches": _chosen(reading_order(pool))}
    if want is not None:
        question["want"] = want
    return question
