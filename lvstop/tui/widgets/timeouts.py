"""The IPVS timeouts line, always visible: tcp / tcpfin / udp."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.widgets import Static

from lvstop.model.ipvs import Timeouts


class TimeoutsBar(Static):
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
        value = self.get_component_rich_style("timeouts--value", partial=True)
        long = self.get_component_rich_style("timeouts--long", partial=True)
        text = Text("timeouts ", no_wrap=True, overflow="ellipsis")
        for name, seconds in (("tcp", timeouts.tcp), ("tcpfin", timeouts.tcpfin),
                              ("udp", timeouts.udp)):
            text.append(f"{name} ")
            # 900 s tcp keeps a test client on one real server: flag it (see the T screen).
            text.append(f"{seconds}s", long if name == "tcp" and seconds >= 300 else value)
            text.append("  ")
        text.append("T: why 900s hides rr")
        self.update(text)
