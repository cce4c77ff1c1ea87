"""The dashboard App: wiring of sources → snapshots → widgets, key bindings, workers, screens.

Sources come in from outside (``lvstop.tui.sources.Sources``): the real ones from
``lvstop top``, replay fakes from tests and screenshots. One worker per ``Poller`` (pollers.py);
a failure ends it and ``on_worker_state_changed`` (the one place for failures) shows it, marks
the source stale and restarts the poller after its ``retry``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import Any

from textual import on
from textual.app import App, ComposeResult
from textual.command import CommandPalette
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer
from textual.worker import Worker, WorkerState

from lvstop.errors import one_line
from lvstop.model.host import HostStats
from lvstop.model.ipvs import IpvsSnapshot
from lvstop.model.vrrp import VrrpSnapshot
from lvstop.track.events import IpvsDiffer, LogEvent, vrrp_log_event
from lvstop.track.window_rates import WindowRates
from lvstop.tui import keys, view
from lvstop.tui.app_keepalived import KeepalivedKeys
from lvstop.tui.app_views import ViewKeys
from lvstop.tui.app_writes import WriteKeys
from lvstop.tui.commands import LvstopCommands
from lvstop.tui.messages import HostPolled, IpvsPolled, VrrpPolled
from lvstop.tui.pollers import Poller
from lvstop.tui.sources import Sources
from lvstop.tui.widgets.event_log import EventLog
from lvstop.tui.widgets.filter_bar import FilterBar
from lvstop.tui.widgets.header import HeaderBar
from lvstop.tui.widgets.host_strip import HostStrip
from lvstop.tui.widgets.lab_strip import LabStrip
from lvstop.tui.widgets.line_table import LineTable
from lvstop.tui.widgets.real_servers import RealServersTable
from lvstop.tui.widgets.services import ServicesTable
from lvstop.tui.widgets.timeouts import TimeoutsBar
from lvstop.tui.widgets.vrrp import VrrpPanel


class LvstopApp(WriteKeys, ViewKeys, KeepalivedKeys):
    CSS_PATH = str(keys.styles_dir() / "lvstop.tcss")
    TITLE = "lvstop"
    COMMANDS = App.COMMANDS | {LvstopCommands}
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]  # noqa: RUF012
    PALETTE_BINDINGS = keys.PALETTE_BINDINGS
    BINDINGS = keys.APP_BINDINGS

    def __init__(
        self,
        sources: Sources,
        interval: float = 1.0,
        read_only: bool = False,
        lab: bool = False,
        incident_dir: Path | None = None,
    ) -> None:
        super().__init__()
        self.sources = sources
        self.interval = interval
        self.read_only = read_only
        self.lab = lab
        self.incident_dir = incident_dir or Path.cwd()
        self.rates = WindowRates(history=view.TREND_POINTS)
        self.differ = IpvsDiffer()
        self.last_ok: dict[str, float | None] = {"ipvs": None, "host": None}
        if sources.vrrp is not None:
            self.last_ok["vrrp"] = None
        self.stale: set[str] = set()
        self.selected_service: str | None = None
        self._errors: dict[str, str] = {}
        self._filter_target: LineTable | None = None
        self.pollers: dict[str, Poller[Any]] = {}

    def compose(self) -> ComposeResult:
        yield HeaderBar()
        # The event log spans the width under the panels and takes the height they leave
        # (a wide screen shows more history, whole sentences); narrow: everything stacks.
        with Vertical(id="body"):
            with Horizontal(id="panels"):
                with Vertical(id="left"):
                    yield ServicesTable()
                    yield RealServersTable()
                with Vertical(id="right"):
                    yield VrrpPanel()
                    yield TimeoutsBar()
            yield EventLog()
        yield HostStrip()
        if self.lab:
            yield LabStrip()
        yield FilterBar()
        yield Footer()

    def on_mount(self) -> None:
        # Widgets looked up once: updates never query (and a message arriving while the app
        # shuts down updates a detached widget harmlessly instead of raising NoMatches).
        self.services_table = self.query_one(ServicesTable)
        self.rs_table = self.query_one(RealServersTable)
        self.vrrp_panel = self.query_one(VrrpPanel)
        self.event_log = self.query_one(EventLog)
        self.host_strip = self.query_one(HostStrip)
        self.header_bar = self.query_one(HeaderBar)
        self.timeouts_bar = self.query_one(TimeoutsBar)
        self.services_table.focus()
        self.set_interval(1.0, self.refresh_status)
        # Pollers (and scapy, pyroute2) start after the first frame is on the screen.
        self.call_after_refresh(self._start)
        # SSH gone: leave like `q` (never in the middle of a write). Not the main thread: skip.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._hangup)

    def _start(self) -> None:
        every = lambda: self.interval  # noqa: E731 (asked each time: it may change)
        vrrp = self.sources.vrrp
        pollers: list[Poller[Any]] = [
            Poller("ipvs", self._fetch_ipvs, IpvsPolled, every, every),
            Poller(
                "host", lambda: asyncio.to_thread(self.sources.host.read), HostPolled, every, every
            ),
            *(
                []
                if vrrp is None
                else [Poller("vrrp", vrrp.snapshot, VrrpPolled, every, every, start=vrrp.start)]
            ),
            self.keepalived_poller(),
        ]
        self.pollers = {p.name: p for p in pollers}
        for name in self.pollers:
            self._start_poller(name)

    def _start_poller(self, name: str) -> None:
        poller = self.pollers[name]
        self.run_worker(
            poller.run(self.post_message, lambda: self.paused),
            name=name,
            group=name,
            exclusive=True,
            exit_on_error=False,
            description=f"poll {name}",
        )

    async def _fetch_ipvs(self) -> IpvsSnapshot:
        """Real servers of the services on the screen and the selected one (the others': in
        turn, ``IpvsReader.read``)."""
        focus = set(self.services_table.keys_in_view())
        if self.selected_service is not None:
            focus.add(self.selected_service)
        return await self.sources.ipvs.snapshot(frozenset(focus))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if event.state != WorkerState.ERROR:
            return
        # One line, never an exception type name (errors.one_line).
        error = one_line(worker.error) if worker.error is not None else "failed"
        name = worker.name or "task"
        poller = self.pollers.get(worker.group)
        if worker.group == "write":  # its name is the write's title
            self.notify(f"refused: {error}", title=name, severity="error", timeout=8)
            self.log_events(
                [
                    LogEvent(
                        self.sources.clock(),
                        "write_failed",
                        f"{name} failed: {error}",
                        "error",
                        "lvstop",
                    )
                ]
            )
        elif poller is not None:
            if self._errors.get(poller.name) != error:  # say it once, not every retry
                self._errors[poller.name] = error
                self.notify(error, title=f"{poller.name} source", severity="error", timeout=8)
                self.log_events(
                    [
                        LogEvent(
                            self.sources.clock(),
                            "source_error",
                            f"{poller.name}: {error}",
                            "error",
                            poller.name,
                        )
                    ]
                )
            self.refresh_status()
            self.set_timer(poller.retry(), lambda: self._start_poller(poller.name))
        else:
            self.notify(error, title=worker.description or name, severity="error")

    # ---- snapshots → widgets -------------------------------------------------------------

    def on_ipvs_polled(self, message: IpvsPolled) -> None:
        self._fresh("ipvs")
        self.ipvs = message.snapshot

    def on_vrrp_polled(self, message: VrrpPolled) -> None:
        self._fresh("vrrp")
        self.vrrp = message.snapshot

    def on_host_polled(self, message: HostPolled) -> None:
        self._fresh("host")
        self.host = message.stats

    def _fresh(self, name: str) -> None:
        self.last_ok[name] = self.sources.clock()
        self._errors.pop(name, None)
        if name in self.stale:
            self.refresh_status()

    def watch_ipvs(self, snapshot: IpvsSnapshot | None) -> None:
        if snapshot is None:
            return
        self.rates.update(snapshot)
        self.log_events(self.differ.update(snapshot, self.sources.clock()))
        self.services_table.set_source(view.ServiceRows(snapshot, self.rates))
        self._show_real_servers()
        self.timeouts_bar.show(snapshot.timeouts)

    def watch_vrrp(self, snapshot: VrrpSnapshot | None) -> None:
        if snapshot is not None:
            self.vrrp_panel.show(snapshot, self.sources.clock())
            self.log_events([vrrp_log_event(e) for e in snapshot.events])

    def watch_host(self, stats: HostStats | None) -> None:
        if stats is not None:
            self.host_strip.show(stats)
            self.refresh_status()

    def watch_paused(self) -> None:
        self.refresh_status()

    def refresh_status(self) -> None:
        """Once a second: staleness and the header (repainted only when its text changes)."""
        now = self.sources.clock()
        stale_after = max(2.5 * self.interval, self.interval + 2.0)
        ages = {n: (None if t is None else now - t) for n, t in self.last_ok.items()}
        self.stale = (
            set()
            if self.paused
            else {
                n
                for n, age in ages.items()
                if n in self._errors or (age is not None and age > stale_after)
            }
        )
        panels: dict[str, list[LineTable]] = {
            "ipvs": [self.services_table, self.rs_table],
            "vrrp": [self.vrrp_panel],
            "host": [],
        }
        for name, widgets in panels.items():
            for widget in widgets:
                widget.stale = name in self.stale
                widget.set_class(name in self.stale, "-stale")
                title = widget.border_title.split(" — ")[0] if widget.border_title else ""
                if name in self.stale:
                    age = ages.get(name)
                    title += " — STALE: no answer" + (f" for {age:.0f}s" if age else "")
                if widget.border_title != title:  # assigning repaints, even the same
                    widget.border_title = title
        self.host_strip.set_class("host" in self.stale, "-stale")
        self.show_keepalived_age()
        self.header_bar.show(
            self.host, now, self.interval, self.read_only, self.paused, ages, self.stale
        )

    @on(LineTable.Highlighted, "ServicesTable")
    def _service_highlighted(self, event: LineTable.Highlighted) -> None:
        self.selected_service = event.key
        self._show_real_servers()

    @on(LineTable.Selected, "ServicesTable")
    def _service_selected(self) -> None:
        self.rs_table.focus()

    # ---- actions -------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in keys.WRITE_ACTIONS and self.read_only:
            return False
        if action == "lab_fault":
            return self.lab
        # The command palette sits on top while its commands are listed: look beneath it.
        on_main = len([s for s in self.screen_stack if not isinstance(s, CommandPalette)]) == 1
        if action in {b.action for b in self.PALETTE_BINDINGS} - {"quit", "help"}:
            return on_main
        return True

    def action_filter(self) -> None:
        focused = self.focused
        self._filter_target = (
            focused if isinstance(focused, LineTable) else self.query_one(ServicesTable)
        )
        self.query_one(FilterBar).open(self._filter_target.filter_text)

    @on(FilterBar.Changed)
    def _filter_changed(self, event: FilterBar.Changed) -> None:
        if self._filter_target is not None:
            self._filter_target.set_filter(event.value)

    @on(FilterBar.Closed)
    def _filter_closed(self) -> None:
        if self._filter_target is not None:
            self._filter_target.focus()

    async def action_quit(self) -> None:
        # Never leave a write half-done: wait for one in flight, then leave.
        writes = [w for w in self.workers if w.group == "write" and not w.is_finished]
        if writes:
            self.notify("waiting for the write in progress…")
            await self.workers.wait_for_complete(writes)
        for source in (self.sources.ipvs, self.sources.vrrp):  # sockets, capture rings
            with contextlib.suppress(Exception):
                await source.close() if source is not None else None
        self.exit(0)

    def _hangup(self) -> None:
        self.call_later(self.action_quit)
