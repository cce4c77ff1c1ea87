"""The host strip: CPU, load, memory and per-interface rx/tx rates."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from lvstop.model.host import HostStats
from lvstop.safetext import escape_controls
from lvstop.tui.format import human


class HostStrip(Static):
    DEFAULT_CSS = """
    HostStrip { height: 1; background: $panel; color: $text-muted; padding: 0 1; }
    HostStrip.-stale { color: $text-disabled; text-style: strike; }
    """

    def __init__(self, *, id: str | None = "host") -> None:
        super().__init__("host: waiting for the first reading", id=id)
        self._parts: list[str] = []
        self._last: str | None = None

    def show(self, stats: HostStats) -> None:
        parts = [
            f"CPU {stats.cpu_percent:3.0f}%",
            "load " + " ".join(f"{x:.2f}" for x in stats.load),
            f"mem {stats.mem_percent:.0f}% of {human(stats.mem_total, 0)}B",
        ]
        for iface in stats.interfaces:
            parts.append(f"{iface.name} ↓{human(iface.rx_bps)} ↑{human(iface.tx_bps)}")
        self._parts = parts
        self._fit()

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        # Whole items only: an interface that does not fit is left out, not cut mid-word.
        width = max(10, self.content_region.width)
        line = ""
        for part in self._parts:
            candidate = f"{line}  {part}" if line else part
            if len(candidate) > width:
                break
            line = candidate
        if line and line != self._last:
            self._last = line
            self.update(Text(escape_controls(line, keep_newlines=False), no_wrap=True))
