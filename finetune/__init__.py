"""Adapter training for the harness: ``python -m finetune sentiment``.

Training data comes from the harness's own split and is rendered by :mod:`harness.tasks.fpb.prompts`, so the
prompt a model is trained on is the prompt it is evaluated on.
"""
