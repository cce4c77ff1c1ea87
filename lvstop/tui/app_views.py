"""The dashboard's view keys: help, connections, timeouts explained, pause, incident
snapshot, lab faults (a mixin of ``LvstopApp``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import work
from textual.app import App

from lvstop.tui.sources import Sources
from lvstop.tui.widgets.event_log import EventLog


class ViewKeys(App[int]):
    sources: Sources
    ipvs: Any
    vrrp: Any
    host: Any
    paused: Any
    incident_dir: Path
    event_log: EventLog

    def action_explain_timeouts(self) -> None:
        from lvstop.tui.screens.timeouts import TimeoutsHelpScreen

        self.push_screen(TimeoutsHelpScreen())

    def action_connections(self) -> None:
        if self.sources.conns is None:
            self.notify("no connection-table reader in this build", severity="warning")
            return
        from lvstop.tui.screens.connections import ConnectionsScreen

        self.push_screen(ConnectionsScreen(self.sources.conns))

    def action_pause(self) -> None:
        self.paused = not self.paused

    def action_help(self) -> None:
        from lvstop.tui.screens.help import HelpScreen

        rows = [(self.get_key_display(b.binding), b.binding.description,
                 b.binding.tooltip or "") for b in self.screen.active_bindings.values()
                if b.enabled and b.binding.description]
        self.push_screen(HelpScreen(rows))

    @work(thread=True, exit_on_error=False, name="incident", description="incident snapshot")
    def action_incident(self) -> None:
        from lvstop.tui.incident import incident_document, write_incident

        now = self.sources.clock()
        doc = incident_document(self.ipvs, self.vrrp, self.host, self.event_log.events,
                                now)
        path = write_incident(doc, self.incident_dir, now)
        self.call_from_thread(self.notify, str(path), title="incident snapshot saved",
                              timeout=10)

    @work(thread=True, exit_on_error=False, name="lab", description="lab fault")
    def action_lab_fault(self, key: str) -> None:
        from lvstop.lab import faults
        from lvstop.tui.keys import LAB_FAULTS

        name, params = LAB_FAULTS[key]
        result = faults.apply(name, **params)
        self.call_from_thread(self.notify, str(result), title=f"lab: {name}")
