"""The TAT-QA task (Zhu et al., ACL 2021; CC BY 4.0): financial question answering over a table plus
paragraphs, answers of type span / multi-span / arithmetic / count with a scale.

One import for the task's parts, which live in small modules:

* :mod:`harness.tasks.tatqa.data`: the loader (sha256-checked files, unusable questions counted),
* :mod:`harness.tasks.tatqa.prompts`: context linearisation, prompts, the strict reply parser,
* :mod:`harness.tasks.tatqa.metric`: exact match and numeracy-aware F1, per type, with bootstrap CIs,
* :mod:`harness.tasks.tatqa.rows` and :mod:`~harness.tasks.tatqa.report`: the report's typed records (rows with
  EM / F1 per answer type, the data and split) and the JSON, Markdown, CSV and terminal lines built from them.

``test_gold`` is the test set; ``dev`` is the few-shot pool and the fine-tuning data (no train file is
shipped). Published anchors on the test set (leaderboard, hidden test set of 1,669 questions; the gold file
has 1,663, so close but not identical): GPT-4 EM 71.9, a fine-tuned 7B (TAT-LLM) 76.4, human 84.1.
"""

from harness.tasks.tatqa.data import (ANSWER_FROM, ANSWER_TYPES, SCALES, SPLITS, Context, Paragraph,
                                      ParsedAnswer, Question, Skipped, TatqaSplit, load_tatqa, tatqa_dir)
from harness.tasks.tatqa.metric import GroupScores, ItemScore, QAScores, em_f1, score, score_item
from harness.tasks.tatqa.prompts import (MAX_NEW_TOKENS, STRATEGIES, TEMPLATE_VERSION, format_answer,
                                         parse_reply, render, render_context, render_table, select_shots,
                                         training_messages)

NAME = "tatqa"
TEST_SPLIT = "test_gold"
POOL_SPLIT = "dev"

__all__ = [
    "ANSWER_FROM", "ANSWER_TYPES", "MAX_NEW_TOKENS", "NAME", "POOL_SPLIT", "SCALES", "SPLITS", "STRATEGIES",
    "TEMPLATE_VERSION", "TEST_SPLIT", "Context", "GroupScores", "ItemScore", "Paragraph", "ParsedAnswer",
    "QAScores", "Question", "Skipped", "TatqaSplit", "em_f1", "format_answer", "load_tatqa", "parse_reply",
    "render", "render_context", "render_table", "score", "score_item", "select_shots", "tatqa_dir",
    "training_messages", "TASK",
]

from harness.tasks.tatqa.task import TASK  # noqa: E402 - the registry finds the task here; task.py needs the parts above
