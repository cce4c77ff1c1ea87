"""The header line: host, keepalived, interval, READ-ONLY / PAUSED badges, data age."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.widgets import Static

from lvstop.sources.host import HostStats
from lvstop.tui.format import coarse_duration, duration


class HeaderBar(Static):
    DEFAULT_CSS = """
    HeaderBar { height: 1; background: $panel; color: $foreground; padding: 0 1; }
    HeaderBar > .header--badge { color: $text-accent; text-style: bold; }
    HeaderBar > .header--bad { color: $text-error; text-style: bold; }
    HeaderBar > .header--ok { color: $text-success; }
    HeaderBar > .header--dim { color: $text-muted; }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "header--badge", "header--bad", "header--ok", "header--dim",
    }

    def __init__(self, *, id: str | None = "header") -> None:
        super().__init__("lvstop", id=id)
        self._last: str | None = None

    def show(
        self,
        host: HostStats | None,
        now: float,
        interval: float,
        read_only: bool,
        paused: bool,
        ages: dict[str, float | None],
        stale: set[str],
    ) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        badge = self.get_component_rich_style("header--badge", partial=True)
        bad = self.get_component_rich_style("header--bad", partial=True)
        ok = self.get_component_rich_style("header--ok", partial=True)
        dim = self.get_component_rich_style("header--dim", partial=True)
        text.append("lvstop ", badge)
        text.append(host.hostname if host else "…")
        # What must not be missed first: at 80 columns the tail is what gets cut.
        if read_only:
            text.append("  READ-ONLY", badge)
        if paused:
            text.append("  PAUSED", bad)
        for name, age in ages.items():
            if name in stale:
                text.append(f"  {name} STALE {duration(age)}", bad)
        if host is not None:
            ka = host.keepalived
            text.append("  keepalived ", dim)
            if ka.running:
                text.append("up", ok)
                # minutes, not seconds: the header must not repaint every second
                text.append(f" {coarse_duration(ka.uptime(now))}", dim)
                pids = ",".join(str(p) for p in ka.pids[:3]) + ("…" if len(ka.pids) > 3 else "")
                text.append(f" pid {pids}", dim)
            else:
                text.append("NOT RUNNING", bad)
        text.append(f"  every {interval:g}s", dim)
        plain = text.markup
        # Only repaint when something shown changed (zero bytes to the terminal otherwise).
        if plain != self._last:
            self._last = plain
            self.update(text)
