"""The dashboard's view keys: help, connections, timeouts explained, pause, incident
snapshot, lab faults (a mixin of ``LvstopApp``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from textual import work
from textual.notifications import SeverityLevel

from lvstop.errors import LvstopError, one_line
from lvstop.safetext import escape_controls
from lvstop.tui.app_state import DashboardState


class ViewKeys(DashboardState):
    #: ``faults.apply``-like callable for the lab keys (tests hand in a fake); None: the lab's
    lab_apply: Callable[..., object] | None = None

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Every notification (the App's, its screens' and widgets') as plain text: messages
        quote config words, file names, host and interface names and kernel errors, which
        must never be parsed as markup (``VI_[/]1`` would end the dashboard with a
        MarkupError) nor reach the terminal with their control characters. lvstop's own
        messages use no markup, so ``markup`` is ignored."""
        super().notify(
            escape_controls(message),
            title=escape_controls(title, keep_newlines=False),
            severity=severity,
            timeout=timeout,
            markup=False,
        )

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

        rows = [
            (self.get_key_display(b.binding), b.binding.description, b.binding.tooltip or "")
            for b in self.screen.active_bindings.values()
            if b.enabled and b.binding.description
        ]
        self.push_screen(HelpScreen(rows))

    @work(exit_on_error=False, name="incident", description="incident snapshot")
    async def action_incident(self) -> None:
        from lvstop.tui.incident import incident_document, write_incident

        now = self.sources.clock()
        ipvs = self.ipvs
        note = ""
        if ipvs is not None and ipvs.real_servers_read is not None:
            # the poll read only the real servers on the screen: the snapshot reads all
            try:
                ipvs = await self.sources.ipvs.snapshot()
            except (LvstopError, OSError) as exc:
                note = f"\nreal servers as last polled (reading them all failed: {one_line(exc)})"
        # off the loop: a big table's JSON takes a while
        doc = await asyncio.to_thread(
            incident_document, ipvs, self.vrrp, self.host, list(self.event_log.events), now
        )
        # the VRRP source's recent packets, when it keeps them (live capture, replays)
        adverts = getattr(self.sources.vrrp, "adverts", None)
        path, pcap = await asyncio.to_thread(write_incident, doc, self.incident_dir, now, adverts)
        shown = str(path)
        if pcap:
            shown += (
                f"\n{pcap} (recent VRRP packets: it holds their authentication data, "
                "simple-auth passwords in clear)"
            )
        shown += "\nreadable by their owner only (mode 0600)" + note
        self.notify(shown, title="incident snapshot saved", timeout=10, markup=False)

    def action_lab_fault(self, key: str) -> None:
        from lvstop.tui.keys import LAB_FAULTS, lab_fault_text

        if key not in LAB_FAULTS:
            return
        if any(w.group == "lab" and not w.is_finished for w in self.workers):
            self.notify("a lab fault is still being applied; wait for it", severity="warning")
            return
        text = lab_fault_text(key)
        self.notify(f"applying {text}…", title="lab", timeout=3)
        self.run_worker(
            lambda: self._apply_lab_fault(key),
            thread=True,
            group="lab",
            name="lab",
            exit_on_error=False,
            description=f"lab fault {text}",
        )

    def _apply_lab_fault(self, key: str) -> None:
        """In a thread: ``faults.apply`` waits for the lab (up to ~10 s)."""
        from lvstop.track.events import LogEvent
        from lvstop.tui.keys import LAB_FAULTS, lab_fault_text

        name, params, _label = LAB_FAULTS[key]
        apply = self.lab_apply
        if apply is None:
            from lvstop.lab import faults

            apply = faults.apply
        try:
            result, severity = str(apply(name, **params)), "notice"
        except Exception as exc:  # a lab refusal (LabError) or a broken lab: one line
            from lvstop.errors import one_line

            result, severity = f"failed: {one_line(exc)}", "error"
        line = " ".join(result.split())
        self.call_from_thread(
            self.notify,
            line,
            title=f"lab: {lab_fault_text(key)}",
            severity="error" if severity == "error" else "information",
            timeout=8,
        )
        self.call_from_thread(
            self.event_log.add,
            [
                LogEvent(
                    self.sources.clock(), "lab_fault", f"lab {name}: {line}", severity, "lvstop"
                )
            ],
        )
