"""The header line: host, keepalived, interval, READ-ONLY / PAUSED badges, data age."""

from __future__ import annotations

from typing import ClassVar

from textual.widgets import Static

from lvstop.model.host import HostStats
from lvstop.tui.format import NO_HOSTNAME, coarse_duration, duration, host_label
from lvstop.tui.widgets.text import Part, glued

SEP = " │ "


class HeaderBar(Static):
    DEFAULT_CSS = """
    HeaderBar { height: 1; background: $panel; color: $foreground; padding: 0 1; }
    HeaderBar > .header--badge { color: $text-accent; text-style: bold; }
    HeaderBar > .header--bad { color: $text-error; text-style: bold; }
    HeaderBar > .header--ok { color: $text-success; }
    HeaderBar > .header--dim { color: $text-muted; }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "header--badge",
        "header--bad",
        "header--ok",
        "header--dim",
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
        parts: list[Part] = []
        try:
            badge = self.get_component_rich_style("header--badge", partial=True)
            bad = self.get_component_rich_style("header--bad", partial=True)
            ok = self.get_component_rich_style("header--ok", partial=True)
            dim = self.get_component_rich_style("header--dim", partial=True)
        except KeyError:
            # a poll's result can arrive before the stylesheet reached this widget (a slow
            # start, seen once in a loaded test run): the next refresh draws the header
            return
        # Fields are separated by " │ " (``glued``: no styled run starts with a space).
        parts.append(("lvstop", badge))
        parts.append((" ", None))
        if host is None:
            parts.append(("…", None))
        elif host.hostname.strip() in NO_HOSTNAME:
            parts.append((host_label(host.hostname), dim))
        else:
            parts.append((host.hostname, None))
        # What must not be missed first: at 80 columns the tail is what gets cut.
        if read_only:
            parts.append((SEP, dim))
            parts.append(("READ-ONLY", badge))
        if paused:
            parts.append((SEP, dim))
            parts.append(("PAUSED", bad))
        for name, age in ages.items():
            if name in stale:
                parts.append((SEP, dim))
                parts.append((f"{name} STALE {duration(age)}", bad))
        if host is not None:
            ka = host.keepalived
            parts.append((SEP, dim))
            parts.append(("keepalived ", dim))
            if ka.running:
                parts.append(("up", ok))
                # minutes, not seconds: the header must not repaint every second
                pids = ",".join(str(p) for p in ka.pids[:3]) + ("…" if len(ka.pids) > 3 else "")
                parts.append((f" {coarse_duration(ka.uptime(now))} pid {pids}", dim))
            else:
                parts.append(("NOT RUNNING", bad))
        parts.append((SEP, dim))
        parts.append((f"every {interval:g}s", dim))
        text = glued(parts)
        plain = text.markup
        # Only repaint when something shown changed (zero bytes to the terminal otherwise).
        if plain != self._last:
            self._last = plain
            self.update(text)
