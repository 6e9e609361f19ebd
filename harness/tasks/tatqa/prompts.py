"""TAT-QA prompts (zero_shot, few_shot, cot) and the strict parser of the replies.

Rendering is pure, like :mod:`harness.tasks.fpb.prompts`: a question becomes chat messages (the same ``Message``
dicts and :class:`harness.tasks.fpb.prompts.Prompt`). :data:`TEMPLATE_VERSION` changes whenever a template text or
the context format changes, so recorded answers to an older prompt are recognised as stale.

**Context format** (:func:`render_context`): the table as one line per row, cells joined by `` | ``
between a leading ``| `` and a trailing `` |`` (white space inside a cell collapsed, a ``|`` inside a
cell written ``/``, rows whose cells are all empty dropped; no header separator line, since TAT-QA tables
have one or two header rows with no marker); then *all* paragraphs in their ``order``, one per line. The
model is never shown gold-derived annotations such as ``rel_paragraphs``: it gets the whole context.

**Answer format**: a final line ``Answer: <answer> | Scale: <scale>``, several spans separated by ``; ``,
the scale one of ``none``, ``thousand``, ``million``, ``billion``, ``percent``. :func:`parse_reply`
reads the *last* such line and nothing else; no answer line, an empty answer, a missing or unknown scale
is a parse failure (None), counted, never guessed.
"""

from __future__ import annotations

import hashlib
import random
import re
from decimal import Decimal
from typing import Sequence

from harness import HarnessError
from harness.tasks.fpb.prompts import Message, Prompt
from harness.tasks.tatqa.data import ANSWER_TYPES, SCALES, ParsedAnswer, Question, TatqaSplit

SYSTEM = ("You are a financial analyst. Answer the question about a company's financial report "
          "using its table and text.")
ANSWER_FORMAT = (
    "Reply with one line: 'Answer: <answer> | Scale: <scale>'. The answer is a number, or words copied from "
    "the table or text; separate several items with '; '. Write numbers without '$' or ',' (for example "
    "-12.6). The scale is the unit of the answer: none, thousand, million, billion or percent."
)
COT = ("Think step by step in at most four short sentences and write out any calculation. Then write a "
       "final line 'Answer: <answer> | Scale: <scale>'. The answer is a number, or words copied from the "
       "table or text; separate several items with '; '. Write numbers without '$' or ','. The scale is "
       "the unit of the answer: none, thousand, million, billion or percent.")
USER = "Table:\n{table}\n\nText:\n{paragraphs}\n\nQuestion: {question}"
CONTEXT_FORMAT = "rows '| a | b |', empty rows dropped; all paragraphs by order, one per line"
SPAN_SEPARATOR = "; "
NO_SCALE = "none"

STRATEGIES: tuple[str, ...] = ("zero_shot", "few_shot", "cot")
MAX_NEW_TOKENS = {"zero_shot": 96, "few_shot": 96, "cot": 256}
DEFAULT_SHOT_TYPES: tuple[str, ...] = ANSWER_TYPES
DEFAULT_MAX_SHOT_CHARS = 1500
"""Few-shot examples are drawn among dev questions whose rendered user message is at most this long."""

TEMPLATE_VERSION = "tatqa-" + hashlib.sha256(
    "\x1f".join((SYSTEM, ANSWER_FORMAT, COT, USER, CONTEXT_FORMAT, SPAN_SEPARATOR, NO_SCALE)).encode()
).hexdigest()[:8]

_ANSWER_LINE = re.compile(r"^\W*(?:final\s+)?answer\s*:", re.IGNORECASE)
_SCALE_TAIL = re.compile(r"\|\s*scale\s*:(?P<scale>[^|]*)$", re.IGNORECASE)
_SCALE_WORDS = {NO_SCALE: "", **{s: s for s in SCALES if s}}


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "/").split())


def render_table(rows: Sequence[Sequence[str]]) -> str:
    cleaned = [[_cell(c) for c in row] for row in rows]
    return "\n".join("| " + " | ".join(row) + " |" for row in cleaned if any(row))


def render_context(question: Question) -> str:
    """The user message: linearised table, all paragraphs in order, the question."""
    paragraphs = "\n".join(" ".join(p.text.split()) for p in question.context.paragraphs)
    return USER.format(table=render_table(question.context.table), paragraphs=paragraphs,
                       question=" ".join(question.question.split()))


def format_number(value: int | float) -> str:
    return str(value) if isinstance(value, int) else format(Decimal(repr(value)), "f")


def format_answer(question: Question) -> str:
    """The gold answer as the reply the model is asked for (few-shot turns and fine-tuning targets)."""
    answer = question.answer
    if isinstance(answer, tuple):
        text = SPAN_SEPARATOR.join(" ".join(s.split()) for s in answer)
    elif isinstance(answer, (int, float)):
        text = format_number(answer)
    else:
        text = answer.strip()
    return f"Answer: {text} | Scale: {question.scale or NO_SCALE}"


def select_shots(pool: TatqaSplit, *, seed: int, types: Sequence[str] = DEFAULT_SHOT_TYPES,
                 per_type: int = 1, max_chars: int = DEFAULT_MAX_SHOT_CHARS) -> tuple[Question, ...]:
    """``per_type`` short questions of every answer type in ``types`` from ``pool`` (dev, never test),
    seeded, then shuffled together."""
    if pool.split == "test_gold":
        raise HarnessError("few-shot examples must come from dev, got the test_gold split: pass "
                           "load_tatqa('dev') as the pool")
    rng = random.Random(seed)
    shots: list[Question] = []
    for kind in types:
        candidates = [q for q in pool.questions if q.answer_type == kind and len(render_context(q)) <= max_chars]
        if len(candidates) < per_type:
            raise HarnessError(f"few_shot needs {per_type} {kind!r} questions of at most {max_chars} characters "
                               f"in {pool.split}, got {len(candidates)}: raise max_chars or lower per_type")
        shots.extend(rng.sample(candidates, per_type))
    rng.shuffle(shots)
    return tuple(shots)


def render(strategy: str, question: Question, *, shots: Sequence[Question] = ()) -> Prompt:
    if strategy not in STRATEGIES:
        raise HarnessError(f"unknown prompt strategy {strategy!r}: expected one of {list(STRATEGIES)}")
    if strategy == "few_shot" and not shots:
        raise HarnessError("few_shot needs examples: pass shots=select_shots(load_tatqa('dev'), seed=...)")
    leaked = [s.uid for s in shots
              if s.uid == question.uid or (s.context.uid and s.context.uid == question.context.uid)]
    if strategy == "few_shot" and leaked:
        raise HarnessError(f"few-shot examples {leaked} share the question's context {question.context.uid}: "
                           "draw shots from dev only and evaluate on test_gold")
    instruction = COT if strategy == "cot" else ANSWER_FORMAT
    messages: list[Message] = [{"role": "system", "content": f"{SYSTEM} {instruction}"}]
    if strategy == "few_shot":
        for shot in shots:
            messages.append({"role": "user", "content": render_context(shot)})
            messages.append({"role": "assistant", "content": format_answer(shot)})
    messages.append({"role": "user", "content": render_context(question)})
    return Prompt(strategy, tuple(messages), False, MAX_NEW_TOKENS[strategy])


def training_messages(question: Question) -> tuple[Message, ...]:
    """The zero-shot prompt plus the gold answer line as the assistant turn: what fine-tuning trains on."""
    return render("zero_shot", question).messages + ({"role": "assistant", "content": format_answer(question)},)


def parse_reply(reply: str | None) -> ParsedAnswer | None:
    """The last ``Answer: ... | Scale: ...`` line of a reply, or None (a counted parse failure)."""
    if not reply:
        return None
    lines = [line for line in reply.splitlines() if _ANSWER_LINE.match(line)]
    if not lines:
        return None
    body = _ANSWER_LINE.sub("", lines[-1], count=1)
    tail = _SCALE_TAIL.search(body)
    if tail is None:
        return None
    scale = _SCALE_WORDS.get(tail["scale"].strip().strip("`'\".*_").strip().lower())
    text = body[: tail.start()].strip().strip("*_`").strip()  # markdown emphasis around the answer
    if scale is None or not text:
        return None
    spans = tuple(s.strip() for s in text.split(";") if s.strip())
    return ParsedAnswer(text, spans, scale) if spans else None
