"""Short human formats for table cells (no Textual): sizes, rates, ages, sparklines."""

from __future__ import annotations

from collections.abc import Sequence

_UNITS = ("", "K", "M", "G", "T", "P")
_BLOCKS = "▁▂▃▄▅▆▇█"


def human(value: float, precision: int = 1) -> str:
    """``1234`` → ``1.2K``; ``0.4`` → ``0.4``; integers below 1000 stay integers."""
    if value != value:  # NaN
        return "-"
    sign = "-" if value < 0 else ""
    value = abs(value)
    if value < 1000:
        if value == int(value):
            return f"{sign}{int(value)}"
        return f"{sign}{value:.{precision}f}"
    for unit in _UNITS[1:]:
        value /= 1000.0
        if value < 1000:
            return f"{sign}{value:.{precision}f}{unit}"
    return f"{sign}{value:.0f}{_UNITS[-1]}"


def rate(value: float | None) -> str:
    """A per-second rate, ``-`` when unknown (first poll, counter reset)."""
    if value is None:
        return "-"
    if 0 < value < 10 and value != int(value):
        return f"{value:.1f}"
    return human(round(value))


def duration(seconds: float | None) -> str:
    """``59s``, ``12m``, ``3h04m``, ``2d05h``."""
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s" if s < 600 else f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600:02d}h"


def coarse_duration(seconds: float | None) -> str:
    """Like ``duration`` but never finer than a minute (``<1m``, ``12m``, ``3h04m``)."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return "<1m"
    if seconds < 3600:
        return f"{int(seconds) // 60}m"
    return duration(seconds)


def sparkline(values: Sequence[float], width: int) -> str:
    """The last ``width`` values as block characters, scaled to their own maximum."""
    tail = list(values)[-width:]
    if not tail:
        return ""
    top = max(tail)
    if top <= 0:
        return _BLOCKS[0] * len(tail)
    last = len(_BLOCKS) - 1
    return "".join(_BLOCKS[min(last, int(v / top * last + 0.5))] for v in tail)


def percent(part: float, whole: float) -> float | None:
    return None if whole <= 0 else 100.0 * part / whole


#: what the kernel reports when no host name was ever set (a bare VM, a fresh namespace)
NO_HOSTNAME = frozenset({"", "(none)"})


def host_label(hostname: str) -> str:
    """The host name as the header shows it: a name that is none says so in words."""
    return "(no hostname)" if hostname.strip() in NO_HOSTNAME else hostname
