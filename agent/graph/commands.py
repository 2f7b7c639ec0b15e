"""The command layer: what people say that needs no model, read by a small grammar before the planner.

Two readers, both deterministic (a tokenizer and rules; no model):

- :func:`read_move` reads a whole message as a move in the version tree ("undo the last two",
  "take that back", "redo", "go back to the original", "revert to 3", "show me version 2"). Only a
  message that is nothing but a move is one: "undo the blue and make it red" or "go back to the
  original colour for the cup" are instructions for the planner.
- :func:`read_reply` reads a message sent while a "which one?" question is open. It is a move, a new
  instruction ("actually, make the saucer blue"), or an answer; an answer is parsed into an
  :class:`Answer` (a small syntax tree) and :func:`resolve` turns it into the boxes it names, using
  the question's candidates, every match, how many are wanted, and (for colours) the image.

Moves (the whole message; "please", "ok", "oops", "just", "can you" ... around it are allowed)::

    undo [that | it | this | the last (edit|change|one|step)]      → undo 1
    undo [the] [last] N [edits|changes|steps|times] | undo twice     → undo N
    take (that|it) back | go back [N] [step(s)] | step back          → undo N (default 1)
    N steps back | back | undo xN | (cancel|remove|delete) the last edit → undo N (default 1)
    (undo|revert) (everything | all [the] [edits|changes])           → revert 0
    redo [that | it | N [times] | twice | xN] | [go] forward [N] [step(s)] → redo N
    undo the undo                                                    → redo 1
    (revert|go back|back|go|return|switch|jump|restore) [to] [version|v] V → revert V
    (show [me] | open | load) version V                              → revert V (every version is kept;
                                                                        moving to it is how it is shown)
    [go|revert|return|switch] back to the original | start over | start again | reset | restore [the] original
    | back to square one | i want the original back                  → revert 0

Questions about the versions (:mod:`agent.graph.queries`: answered from the version tree, no model)::

    [show [me] [the]] history | list [the] versions | what edits are there              → every version
    which version is this | what version am i on | where am i                           → the current one

Answers (to "I found 4 cups. Which one do you mean?")::

    reply      := move | instruction | answer
    answer     := [correction] (cancel | all [except items] | [not] items) [politeness]
    correction := "no" | "nope" | "sorry" | "oops" | "actually" | "wait" | "i meant" | "not that one" ...
    cancel     := "cancel" | "none" | "neither" | "never mind" | "forget it" | "no" (alone) | "leave them alone"
                | "I changed my mind" | "don't change anything" ...      (:mod:`agent.graph.cancels`)
    all        := "all" | "both" | "every" | "each" | "everything" [of them] [kind]
    except     := "except" | "but" | "other than" | "apart from" | "besides" | "excluding" | "not" | "without"
    items      := item (("and" | "," | "&" | "plus") item)*      (a "," between a number and a
                                                                 description is apposition: they must agree)
    item       := number | number "-" number | ordinal | "last" | "second to last"
                | ordinal "from the" side | position [position] | "the" count side ("the two on the left")
                | size | shade | colour | kind ... (the words of one item must agree)

"the one not on the left" is "not on the left"; "not the right one, the left one" is "the left one". A reply
that picks nothing gets a follow-up that says why (:mod:`agent.graph.nonanswers`): the choice left to the
agent ("you choose", "either"), "the other one" before any pick, an answer with an instruction after it
("the left one, and make it blue"), or an edit of "it" ("make it blue instead": "it" is the one asked about).

``kind`` is the kind asked about ("cup", "cups"); another noun is not understood and the follow-up
says so. Numbers refer to the numbered candidates; positions, sizes and colours are read among the
candidates shown, or among every match after "all". A colour compares each box's median Lab colour
with :func:`tools.color.parse_color`'s; it must be clearly the nearest. With ``want`` (the instruction
meant N things) an answer must name N, or say "all".

An instruction (the question is dropped and it runs as a new turn) is a message with an edit verb
("make", "remove", "put" ...) whose object is not just a choice among the candidates ("remove the left
one" answers a question about removing; "make the left one red" answers one about making a cup red,
"make the left one green" or "paint it" while asked which to remove do not), a message that says how
things should end up ("I want the table removed", "the saucer should be blue", "the whole picture
..."), or a question ("what is ...?").
"""


from __future__ import annotations

from agent.graph.answers import Answer, Item, Reading, kind_words, read_reply
from agent.graph.moves import Move, number, ordinal, read_move, tokens
from agent.graph.resolve import Resolved, forms, pick_pointed, resolve

__all__ = ["Answer", "Item", "Move", "Reading", "Resolved", "forms", "kind_words", "number", "ordinal",
           "pick_pointed", "read_move", "read_reply", "resolve", "tokens"]
