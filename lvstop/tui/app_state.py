"""What LvstopApp's parts share: its reactive snapshots, sources, widgets and trackers, and
the two things every part does with them (log events, show the selected service's real
servers). The key mixins (app_writes, app_views, app_keepalived) and LvstopApp derive from it,
so no part redeclares the App's state or stubs its methods."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.app import App
from textual.reactive import var

from lvstop.model.host import HostStats
from lvstop.model.ipvs import IpvsSnapshot
from lvstop.model.vrrp import VrrpSnapshot
from lvstop.track.events import IpvsDiffer, LogEvent
from lvstop.track.window_rates import WindowRates
from lvstop.tui import view
from lvstop.tui.pollers import Poller
from lvstop.tui.sources import Sources
from lvstop.tui.widgets.event_log import EventLog
from lvstop.tui.widgets.real_servers import RealServersTable


class DashboardState(App[int]):
    """The dashboard's state (set up by ``LvstopApp.__init__`` and ``on_mount``)."""

    ipvs: var[IpvsSnapshot | None] = var(None, always_update=True, init=False)
    vrrp: var[VrrpSnapshot | None] = var(None, always_update=True, init=False)
    host: var[HostStats | None] = var(None, always_update=True, init=False)
    paused: var[bool] = var(False, init=False)

    sources: Sources
    interval: float
    incident_dir: Path
    rates: WindowRates
    differ: IpvsDiffer
    selected_service: str | None
    pollers: dict[str, Poller[Any]]
    #: the last error shown per source (a repeat is not shown again)
    _errors: dict[str, str]
    rs_table: RealServersTable
    event_log: EventLog

    def log_events(self, events: list[LogEvent]) -> None:
        if events:
            self.event_log.add(events)

    def _show_real_servers(self) -> None:
        svc = (
            self.ipvs.service(self.selected_service)
            if (self.ipvs and self.selected_service)
            else None
        )
        self.rs_table.set_rows(
            view.real_server_rows(
                svc,
                self.rates,
                self.sources.actions.return_weights(),
                self.sources.keepalived.view().states,
            )
        )
