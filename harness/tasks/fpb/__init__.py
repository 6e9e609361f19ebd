"""Financial PhraseBank (Malo et al. 2014): the reference data set, in its own room.

* :mod:`~harness.tasks.fpb.data`: the four agreement files (latin-1, ``sentence@label``), found and checked;
* :mod:`~harness.tasks.fpb.prompts`: FPB's prompt texts (also TFNS's);
* :mod:`~harness.tasks.fpb.sentiment`: the main job (``-m sentiment``), with the published split protocol and
  the published GPT replies of Shah & Chava (2023);
* :mod:`~harness.tasks.fpb.slices`: the agreement slices (``-m slices``);
* :mod:`~harness.tasks.fpb.teacher`: the published replies as teacher labels (``python -m finetune --teacher``).
"""

from harness.tasks.fpb.sentiment import TASK as SENTIMENT
from harness.tasks.fpb.slices import TASK as SLICES

TASKS = (SENTIMENT, SLICES)
