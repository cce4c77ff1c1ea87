"""The header line: host, keepalived, interval, READ-ONLY / PAUSED badges, data age."""

from __future__ import annotations

from typing import ClassVar

from lvstop.model.host import HostStats
from lvstop.tui.format import NO_HOSTNAME, coarse_duration, duration, host_label
from lvstop.tui.widgets.text import NamedPart, PartsLine

SEP = " │ "


class HeaderBar(PartsLine):
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
        parts: list[NamedPart] = []
        # Fields are separated by " │ " (``glued``: no styled run starts with a space).
        parts.append(("lvstop", "header--badge"))
        parts.append((" ", None))
        if host is None:
            parts.append(("…", None))
        elif host.hostname.strip() in NO_HOSTNAME:
            parts.append((host_label(host.hostname), "header--dim"))
        else:
            parts.append((host.hostname, None))
        # What must not be missed first: at 80 columns the tail is what gets cut.
        if read_only:
            parts.append((SEP, "header--dim"))
            parts.append(("READ-ONLY", "header--badge"))
        if paused:
            parts.append((SEP, "header--dim"))
            parts.append(("PAUSED", "header--bad"))
        for name, age in ages.items():
            if name in stale:
                parts.append((SEP, "header--dim"))
                parts.append((f"{name} STALE {duration(age)}", "header--bad"))
        if host is not None:
            ka = host.keepalived
            parts.append((SEP, "header--dim"))
            parts.append(("keepalived ", "header--dim"))
            if ka.running:
                parts.append(("up", "header--ok"))
                # minutes, not seconds: the header must not repaint every second
                pids = ",".join(str(p) for p in ka.pids[:3]) + ("…" if len(ka.pids) > 3 else "")
                parts.append((f" {coarse_duration(ka.uptime(now))} pid {pids}", "header--dim"))
            else:
                parts.append(("NOT RUNNING", "header--bad"))
        parts.append((SEP, "header--dim"))
        parts.append((f"every {interval:g}s", "header--dim"))
        self.show_parts(parts)
