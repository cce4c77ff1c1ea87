"""The IPVS timeouts line, always visible: tcp / tcpfin / udp."""

from __future__ import annotations

from typing import ClassVar

from lvstop.model.ipvs import Timeouts
from lvstop.tui.widgets.text import NamedPart, PartsLine


class TimeoutsBar(PartsLine):
    DEFAULT_CSS = """
    TimeoutsBar { height: 1; padding: 0 1; color: $text-muted; }
    TimeoutsBar > .timeouts--value { color: $foreground; }
    TimeoutsBar > .timeouts--long { color: $text-warning; text-style: bold; }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {"timeouts--value", "timeouts--long"}

    def __init__(self, *, id: str | None = "timeouts") -> None:
        super().__init__("timeouts: …", id=id)
        self._last: Timeouts | None = None

    def show(self, timeouts: Timeouts | None) -> None:
        if timeouts is None or timeouts == self._last:
            return
        self._last = timeouts
        # Separated by " · " (``glued``: no styled run starts with a space).
        parts: list[NamedPart] = [("timeouts ", None)]
        for name, seconds in (
            ("tcp", timeouts.tcp),
            ("tcpfin", timeouts.tcpfin),
            ("udp", timeouts.udp),
        ):
            parts.append((f"{name} ", None))
            # 900 s tcp keeps a test client on one real server: flag it (see the T screen).
            parts.append(
                (
                    f"{seconds}s",
                    "timeouts--long" if name == "tcp" and seconds >= 300 else "timeouts--value",
                )
            )
            parts.append((" · ", None))
        parts.append(("T: why 900s?", None))
        self.show_parts(parts)
