"""Inference engines the harness starts and then talks to as a client over HTTP (OpenAI-compatible).

:mod:`harness.serving.vllm` launches vLLM serving one base model and every adapter as a LoRA module; the
rows ``openai:MODEL@ENDPOINT`` and ``adapter:NAME@ENDPOINT`` then call it like any other endpoint.
"""
