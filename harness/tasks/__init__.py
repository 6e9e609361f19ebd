"""Benchmark tasks beyond Financial PhraseBank sentiment, one small module (or family of modules) per task."""
