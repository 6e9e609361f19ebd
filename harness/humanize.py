"""Numbers as a reader wants them: money with 2-3 significant digits, ratios as "1 700× cheaper", times in
ms or s, p-values without e-notation. Every function takes None and says "n/a" (or the caller's word).

Thousands are grouped with a space ("1 700"), as the SI brochure does, so a figure never reads as a decimal.
"""

from __future__ import annotations

import math

GROUP = " "


def _grouped(value: float, decimals: int = 0) -> str:
    return f"{value:,.{decimals}f}".replace(",", GROUP)


def _significant(value: float, digits: int) -> str:
    """``value`` (> 0) to ``digits`` significant digits in fixed-point notation, trailing zeros dropped."""
    decimals = max(0, digits - 1 - math.floor(math.log10(value)))
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def usd(value: float | None, *, missing: str = "n/a", whole: bool = False) -> str:
    """Dollars: "$3.03", "$12.50", "$1 234", "$0.0024", "$0.0000057"; never e-notation. ``whole``: "$10" rather
    than "$10.00" for a whole amount (axis ticks)."""
    if value is None or math.isnan(value):
        return missing
    if value < 0:
        return "-" + usd(-value, whole=whole)
    if value == 0:
        return "$0"
    if value >= 100:
        return "$" + _grouped(value)
    if value >= 1:
        return f"${value:.0f}" if whole and value == round(value) else f"${value:.2f}"
    return "$" + _significant(value, 2)


def number(value: float | None, digits: int = 2, *, missing: str = "n/a") -> str:
    """A positive count or factor to about ``digits`` significant digits: 3.2, 18, 1 700, 29 000."""
    if value is None or math.isnan(value):
        return missing
    if value == 0:
        return "0"
    if abs(value) >= 10 ** digits:
        magnitude = 10 ** (math.floor(math.log10(abs(value))) - digits + 1)
        return _grouped(round(value / magnitude) * magnitude)
    return _significant(abs(value), digits) if value > 0 else "-" + _significant(-value, digits)


def factor(value: float | None, smaller: str, larger: str, *, missing: str = "n/a") -> str:
    """A ratio a / b in words: 0.0005 -> "2 000× cheaper", 3.2 -> "3.2× dearer", 1.02 -> "about the same"."""
    if value is None or math.isnan(value) or value <= 0:
        return missing
    if 0.95 <= value <= 1.05:
        return "about the same"
    word, times = (smaller, 1 / value) if value < 1 else (larger, value)
    return f"{number(times)}× {word}"


def cost_factor(value: float | None, *, missing: str = "n/a") -> str:
    return factor(value, "cheaper", "dearer", missing=missing)


def speed_factor(value: float | None, *, missing: str = "n/a") -> str:
    """A latency ratio: below 1 is faster."""
    return factor(value, "faster", "slower", missing=missing)


def duration(seconds: float | None, *, missing: str = "n/a") -> str:
    """0.00042 -> "0.42 ms", 0.045 -> "45 ms", 1.23 -> "1.2 s", 84 -> "1 min 24 s", 7300 -> "2.0 h"."""
    if seconds is None or math.isnan(seconds):
        return missing
    if seconds < 1:
        return f"{_significant(seconds * 1000, 2) if seconds > 0 else '0'} ms"
    if seconds < 60:
        return f"{_significant(seconds, 2)} s"
    if seconds < 3600:
        minutes, rest = divmod(round(seconds), 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    return f"{seconds / 3600:.1f} h"


def p_value(p: float | None, *, missing: str = "n/a") -> str:
    """"0.41", "0.032", "0.0003", "< 0.0001": a p-value the way a paper prints it, never e-notation."""
    if p is None or math.isnan(p):
        return missing
    if p < 0.0001:
        return "< 0.0001"
    if p >= 0.01:
        return f"{p:.2f}"
    return _significant(p, 1)


def requests(n: float | None, *, missing: str = "never") -> str:
    """A request count: "< 1", "18", "4 300", "1.2 million"."""
    if n is None or math.isnan(n):
        return missing
    if n < 1:
        return "< 1"
    if n >= 1e9:
        return f"{number(n / 1e9)} billion"
    if n >= 1e6:
        return f"{number(n / 1e6)} million"
    return number(math.ceil(n))


def months(value: float | None, *, missing: str = "never") -> str:
    """A payback period: "5 hours", "3.5 days", "2.4 months", "12 years"."""
    if value is None or math.isnan(value):
        return missing
    hours = value * 30 * 24
    if hours < 1:
        return "under an hour"
    if hours < 48:
        return f"{number(hours)} hours"
    if value < 1:
        return f"{number(value * 30)} days"
    return f"{number(value)} months" if value < 24 else f"{number(value / 12)} years"
