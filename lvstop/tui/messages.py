"""Messages the pollers post to the App (a newer snapshot replaces an unprocessed older one)."""

from __future__ import annotations

from textual.message import Message

from lvstop.model.host import HostStats
from lvstop.model.ipvs import IpvsSnapshot
from lvstop.model.vrrp import VrrpSnapshot
from lvstop.tui.sources import KeepalivedView


class IpvsPolled(Message):
    def __init__(self, snapshot: IpvsSnapshot) -> None:
        super().__init__()
        self.snapshot = snapshot

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, IpvsPolled)


class VrrpPolled(Message):
    def __init__(self, snapshot: VrrpSnapshot) -> None:
        super().__init__()
        self.snapshot = snapshot

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, VrrpPolled)


class HostPolled(Message):
    def __init__(self, stats: HostStats) -> None:
        super().__init__()
        self.stats = stats

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, HostPolled)


class KeepalivedPolled(Message):
    """keepalived's view before and after one refresh (its changes go to the event log)."""

    def __init__(self, views: tuple[KeepalivedView, KeepalivedView]) -> None:
        super().__init__()
        self.before, self.after = views
