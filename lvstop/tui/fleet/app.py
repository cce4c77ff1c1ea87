"""The fleet App of ``lvstop --host``: one row per director, the VRID × director matrix, the
differences between directors, the event log; Enter opens one director.

The directors' ``AgentClient`` s (``lvstop.fleet.client``, plain asyncio, or fakes in tests)
are passed in; each runs in a worker of its own, so one hanging director costs only its own
task. They call ``on_change``; the App redraws at most every ``REDRAW`` seconds, by row key.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Protocol

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Footer, Header, RichLog, Static
from textual.worker import Worker, WorkerState

from lvstop.agent.protocol import MAX_CONNS
from lvstop.errors import one_line
from lvstop.fleet import writes
from lvstop.fleet.compare import differences, overview, vrid_matrix
from lvstop.fleet.model import Director
from lvstop.model.ipvs import ConnEntry, Timeouts
from lvstop.safetext import escape_controls
from lvstop.tui.fleet.rows import (
    DIFF_COLUMNS,
    OVERVIEW_COLUMNS,
    diff_rows,
    overview_row,
    reason_line,
    vrid_columns,
    vrid_rows,
)
from lvstop.tui.fleet.screens import DirectorScreen, FleetConfirmScreen
from lvstop.tui.remote import conn_entry
from lvstop.tui.screens.connections import ConnectionsScreen
from lvstop.tui.screens.timeouts import TimeoutsScreen
from lvstop.tui.screens.weight import WeightScreen
from lvstop.tui.widgets.line_table import LineTable

#: seconds between two redraws at most (changes coalesce)
REDRAW = 0.25


class DirectorSource(Protocol):
    """What the App needs of one director (``lvstop.fleet.client.AgentClient``)."""

    on_change: Callable[[Any], None] | None
    on_event: Callable[[str, dict[str, Any]], None] | None

    @property
    def name(self) -> str: ...

    def view(self) -> Director: ...

    async def run(self) -> None: ...

    async def request(self, op: str, within: float = 60.0, **args: Any) -> dict[str, Any]: ...

    def reconnect_now(self) -> None: ...

    async def close(self) -> None: ...


class FleetConns:
    """One director's connection table for the connections screen, which reads it in a
    thread: the request goes to the App's loop, where the director's connection lives."""

    def __init__(self, app: App[int], client: DirectorSource) -> None:
        self.app = app
        self.client = client

    def read(self) -> list[ConnEntry]:
        async def ask() -> dict[str, Any]:
            return await self.client.request("conns", limit=MAX_CONNS)

        result: dict[str, Any] = self.app.call_from_thread(ask)
        return [conn_entry(e) for e in result.get("conns") or ()]


class FleetApp(App[int]):
    TITLE = "lvstop fleet"
    CSS = """
    #overview { height: auto; max-height: 12; border: round $primary; }
    #reasons { height: auto; padding: 0 1; color: $text-error; }
    #vrids { height: auto; max-height: 12; border: round $primary; }
    #diffs { height: auto; max-height: 12; border: round $primary; }
    #log { height: 1fr; min-height: 4; border: round $primary; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="fleet.quit", tooltip="Leave lvstop"),
        Binding(
            "c",
            "reconnect",
            "Reconnect",
            id="fleet.reconnect",
            tooltip="Reconnect the selected director now (not after its backoff)",
        ),
        Binding(
            "t",
            "timeouts(False)",
            "Timeouts",
            id="fleet.timeouts",
            tooltip="Set the IPVS timeouts on the selected director",
        ),
        Binding(
            "T",
            "timeouts(True)",
            "Timeouts all",
            id="fleet.timeouts_all",
            tooltip="Set the IPVS timeouts on every director (one confirm dialog)",
        ),
    ]

    def __init__(
        self,
        clients: Sequence[DirectorSource],
        interval: float = 1.0,
        clock: Callable[[], float] = time.time,
        dashboard_argv: Callable[[str], list[str]] | None = None,
    ) -> None:
        super().__init__()
        self.clients = list(clients)
        #: the command of one director's full dashboard (`lvstop top --via NAME`)
        self.dashboard_argv = dashboard_argv
        self.interval = interval
        self.clock = clock
        self.directors: tuple[Director, ...] = tuple(c.view() for c in self.clients)
        self._dirty = True
        self._status: dict[str, str] = {}
        #: the pid of the director's dashboard `f` runs, while it runs
        self.dashboard_pid: int | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        table = LineTable(OVERVIEW_COLUMNS, empty_text="no directors", id="overview")
        table.border_title = "Directors (Enter: one director)"
        yield table
        yield Static("", id="reasons", markup=False)
        vrids = LineTable(vrid_columns(self.directors), empty_text="no VRID seen", id="vrids")
        vrids.border_title = "VRID × director (keepalived's state; the wire's master)"
        yield vrids
        diffs = LineTable(DIFF_COLUMNS, empty_text="the directors' IPVS tables agree", id="diffs")
        diffs.border_title = "Differences between directors"
        yield diffs
        log = RichLog(id="log", max_lines=500, wrap=False, markup=False)
        log.border_title = "Events"
        yield log
        yield Footer()

    def on_mount(self) -> None:
        for client in self.clients:
            client.on_change = self._changed
            client.on_event = self._event
            self.run_worker(
                client.run(),
                group=f"director:{client.name}",
                exit_on_error=False,
                description=f"director {client.name}",
            )
        self.set_interval(REDRAW, self._redraw_if_dirty)
        self.set_interval(1.0, self._tick)  # ages and retry countdowns move
        self.query_one("#overview", LineTable).focus()

    # -- data → widgets --------------------------------------------------------------------

    def _changed(self, _client: Any) -> None:
        self._dirty = True

    def _tick(self) -> None:
        self._dirty = True

    def _redraw_if_dirty(self) -> None:
        # Textual clears is_running before it removes the widgets and only then stops the
        # timers: a tick in between must not query them.
        if self._dirty and self.is_running:
            self._dirty = False
            self.redraw()

    def redraw(self) -> None:
        self.directors = tuple(c.view() for c in self.clients)
        diffs = differences(self.directors)
        now = self.clock()
        self.query_one("#overview", LineTable).set_rows(
            overview_row(overview(d, diffs), d, now) for d in self.directors
        )
        reasons = [r for r in (reason_line(d) for d in self.directors) if r]
        self.query_one("#reasons", Static).update(Text(escape_controls("\n".join(reasons))))
        self.query_one("#vrids", LineTable).set_rows(vrid_rows(vrid_matrix(self.directors)))
        table = self.query_one("#diffs", LineTable)
        table.set_rows(diff_rows(diffs))
        live = sum(1 for d in self.directors if d.ipvs is not None)
        table.border_subtitle = (
            f"{len(diffs)} found"
            if diffs
            else "none: the IPVS tables agree"
            if live > 1
            else "fewer than two directors to compare"
        )
        for d in self.directors:
            said = f"{d.status}: {d.reason}" if d.reason else d.status
            if self._status.get(d.name) != said:
                if d.name in self._status or d.status != "connecting":
                    self.log_line(d.name, "link", said)
                self._status[d.name] = said
        if isinstance(self.screen, DirectorScreen):
            self.screen.refresh_view()

    def log_line(self, director: str, source: str, text: str) -> None:
        if not self.is_running:  # an event arriving while the app shuts down
            return
        stamp = time.strftime("%H:%M:%S", time.localtime(self.clock()))
        self.query_one("#log", RichLog).write(
            Text(escape_controls(f"{stamp} {director} {source}: {text}", keep_newlines=False))
        )

    def _event(self, director: str, msg: dict[str, Any]) -> None:
        self.log_line(director, str(msg.get("source", "agent")), str(msg.get("text", "")))
        self._dirty = True

    # -- keys ------------------------------------------------------------------------------

    @on(LineTable.Selected, "#overview")
    def open_director(self, event: LineTable.Selected) -> None:
        if event.key is not None:
            self.push_screen(DirectorScreen(event.key))

    def full_dashboard(self, name: str) -> None:
        """Hand the terminal to ``lvstop top --via NAME`` until it quits. The fleet goes on
        meanwhile (its loop is not blocked: the dashboard is a child process waited for in
        a worker, and nothing is drawn while it holds the terminal), so no director's
        connection goes silent; back on the fleet screen, everything is current."""
        if self.dashboard_argv is None:
            self.notify("no full dashboard here", severity="warning")
            return
        if any(w.group == "full-dashboard" and not w.is_finished for w in self.workers):
            return  # one at a time: the terminal is the dashboard's already
        self._run_dashboard(name, self.dashboard_argv(name))

    @work(group="full-dashboard", exit_on_error=False, description="a director's dashboard")
    async def _run_dashboard(self, name: str, argv: list[str]) -> None:
        # batch_update holds every repaint while the child owns the terminal; suspend hands
        # the terminal over (not in a headless test run: there is none to hand)
        handed = contextlib.nullcontext() if self.is_headless else self.suspend()
        with self.batch_update(), handed:
            try:
                proc = await asyncio.create_subprocess_exec(*argv)
            except OSError as exc:
                returncode: int | str = f"cannot run {argv[0]}: {exc.strerror or exc}"
            else:
                self.dashboard_pid = proc.pid
                try:
                    returncode = await proc.wait()
                finally:
                    self.dashboard_pid = None
                    if proc.returncode is None:  # the fleet is leaving: so does its child
                        with contextlib.suppress(ProcessLookupError):
                            proc.terminate()
        if returncode:
            said = returncode if isinstance(returncode, str) else f"status {returncode}"
            self.notify(
                f"the dashboard of {name} ended with {said}", severity="warning", markup=False
            )
        self._dirty = True

    def action_timeouts(self, everywhere: bool) -> None:
        key = self.query_one("#overview", LineTable).cursor_key
        if key is None:
            self.notify("no director selected", severity="warning")
            return
        self.start_timeouts(key, everywhere)

    def show_connections(self, name: str) -> None:
        """The connection table of director ``name`` (its agent's ``conns``)."""
        client = next((c for c in self.clients if c.name == name), None)
        if client is not None:
            screen = ConnectionsScreen(FleetConns(self, client))
            screen.sub_title = f"connections on {name}"
            self.push_screen(screen)

    def action_reconnect(self) -> None:
        key = self.query_one("#overview", LineTable).cursor_key
        for client in self.clients:
            if client.name == key:
                client.reconnect_now()
                self.notify(f"reconnecting {key}")

    # -- writes ----------------------------------------------------------------------------

    def start_write(self, op: str, rs_key: str, director: str, everywhere: bool) -> None:
        targets = [d for d in self.directors if everywhere or d.name == director]
        if op == "weight":
            here = next((d for d in self.directors if d.name == director), None)
            rs = here.ipvs.real_server(rs_key) if here and here.ipvs else None

            def chosen(weight: int | None) -> None:
                if weight is not None:
                    self._confirm(op, rs_key, targets, weight)

            self.push_screen(WeightScreen(rs_key, rs.weight if rs else 1), chosen)
            return
        self._confirm(op, rs_key, targets, None)

    def start_timeouts(self, director: str, everywhere: bool) -> None:
        """The timeouts dialog (filled with ``director``'s), then one confirm dialog with
        each target director's before → after."""
        here = next((d for d in self.directors if d.name == director), None)
        current = here.ipvs.timeouts if here is not None and here.ipvs is not None else None
        if here is None or current is None:
            why = here.reason or here.status if here is not None else "gone"
            self.notify(f"the timeouts of {director} are unknown ({why})", severity="warning")
            return
        targets = [d for d in self.directors if everywhere or d.name == director]

        def chosen(timeouts: Timeouts | None) -> None:
            if timeouts is not None:
                self._confirm("timeouts", writes.TIMEOUTS_TARGET, targets, None, timeouts)

        self.push_screen(TimeoutsScreen(current), chosen)

    def _confirm(
        self,
        op: str,
        rs_key: str,
        targets: Sequence[Director],
        weight: int | None,
        timeouts: Timeouts | None = None,
    ) -> None:
        if timeouts is not None:
            steps = writes.plan_timeouts(targets, timeouts)
            subject = f"timeouts {writes.timeouts_text(timeouts)}"
        else:
            steps = writes.plan(op, rs_key, targets, weight)
            subject = rs_key
        if all(s.skip for s in steps):
            self.notify(
                f"{op} {rs_key}: nothing to send — " + "; ".join(s.text() for s in steps),
                severity="warning",
                markup=False,
            )
            return
        where = "every director" if len(targets) > 1 else targets[0].name
        title = (
            f"Set {subject} (tcp/tcpfin/udp) on {where}"
            if timeouts is not None
            else f"{op.capitalize()} {subject} on {where}"
        )

        def answered(ok: bool | None) -> None:
            if ok:
                self._apply(op, rs_key, steps, weight, timeouts)
            else:
                self.notify("cancelled: nothing changed")

        self.push_screen(FleetConfirmScreen(title, steps), answered)

    @work(group="fleet-writes", exit_on_error=False, description="a fleet write")
    async def _apply(
        self,
        op: str,
        rs_key: str,
        steps: Sequence[writes.Step],
        weight: int | None,
        timeouts: Timeouts | None = None,
    ) -> None:
        requesters = {c.name: c.request for c in self.clients}
        outcomes = await writes.apply(op, rs_key, steps, requesters, weight, timeouts)
        for o in outcomes:
            self.log_line(o.director, op, ("ok: " if o.ok else "FAILED: ") + o.message)
        text, severity = writes.summary(op, rs_key, outcomes)
        self.notify(
            text,
            severity=severity,
            markup=False,
            timeout=10,
        )

    # -- the one place for worker failures --------------------------------------------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if event.state != WorkerState.ERROR or worker.error is None:
            return
        reason = one_line(worker.error)
        self.log_line(worker.description or "lvstop", "error", reason)
        self.notify(reason, severity="error", markup=False)
        group = worker.group or ""
        if group.startswith("director:"):  # its loop ended on a bug: start it again
            name = group.partition(":")[2]
            client = next((c for c in self.clients if c.name == name), None)
            if client is not None:
                self.set_timer(
                    self.interval * 5,
                    lambda c=client: self.run_worker(
                        c.run(),
                        group=f"director:{c.name}",
                        exit_on_error=False,
                        description=f"director {c.name}",
                    ),
                )

    async def action_quit(self) -> None:
        for client in self.clients:
            await client.close()
        self.exit(0)
