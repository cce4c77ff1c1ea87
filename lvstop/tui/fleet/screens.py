"""The fleet's screens: one director (its facts, keepalived instances and real servers, with
the write keys for it or for all directors) and the one confirm dialog of a fleet write."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, Footer, Label, Static

from lvstop.fleet.model import Director
from lvstop.fleet.writes import Step
from lvstop.safetext import escape_controls
from lvstop.tui.fleet.rows import RS_COLUMNS, real_server_rows
from lvstop.tui.rows import Column, Row
from lvstop.tui.screens.confirm import ConfirmScreen
from lvstop.tui.widgets.line_table import LineTable

if TYPE_CHECKING:
    from lvstop.tui.fleet.app import FleetApp

INSTANCE_COLUMNS = (
    Column("name", "Instance", 16),
    Column("vrid", "VRID", 5, numeric=True),
    Column("state", "State", 9),
    Column("source", "Said by", 10),
    Column("prio", "Prio", 5, numeric=True),
    Column("vips", "VIPs (held)", 30, flex=True),
)


def instance_rows(d: Director) -> list[Row]:
    rows = []
    for i in d.instances:
        vips = " ".join(v + ("*" if v in i.vips_held else "") for v in i.vips)
        cells = (
            i.name,
            "" if i.vrid is None else str(i.vrid),
            i.state,
            i.source,
            "" if i.priority is None else str(i.priority),
            vips,
        )
        rows.append(
            Row(
                i.name,
                cells,
                (i.name, i.vrid, i.state, i.source, i.priority, vips),
                (
                    "",
                    "",
                    "ok"
                    if i.state == "MASTER"
                    else "error"
                    if i.state in ("FAULT", "STOPPED")
                    else "",
                    "dim",
                    "",
                    "",
                ),
                search_text=" ".join(cells),
            )
        )
    return rows


def facts(d: Director) -> str:
    if not d.live:
        return f"{d.name}: {d.status.upper()}: {d.reason}"
    ka = (
        f"keepalived {d.keepalived_version or '?'} pid {d.keepalived_pid}"
        if d.keepalived_running
        else "keepalived not running"
    )
    return f"{d.name} ({d.host}): kernel {d.kernel}, python {d.python}, lvstop {d.lvstop}, {ka}" + (
        f"; {d.problems[0]}" if d.problems else ""
    )


class DirectorScreen(Screen[None]):
    """One director. d / r / w / t on it; D / R / W / T on every director (one confirm
    dialog); c its connection table; f its full dashboard."""

    DEFAULT_CSS = """
    DirectorScreen #facts { height: auto; padding: 0 1; color: $text-muted; }
    DirectorScreen #instances { height: auto; max-height: 8; border: round $primary; }
    DirectorScreen #real-servers { height: 1fr; border: round $primary; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape",
            "app.pop_screen",
            "Back",
            id="fleet.back",
            tooltip="Back to the fleet overview",
        ),
        Binding(
            "d",
            "write('drain', False)",
            "Drain",
            id="fleet.drain",
            tooltip="Drain the selected real server on this director",
        ),
        Binding(
            "D",
            "write('drain', True)",
            "Drain all",
            id="fleet.drain_all",
            tooltip="Drain the selected real server on every director",
        ),
        Binding(
            "r",
            "write('restore', False)",
            "Restore",
            id="fleet.restore",
            tooltip="Restore the selected real server on this director",
        ),
        Binding(
            "R",
            "write('restore', True)",
            "Restore all",
            id="fleet.restore_all",
            tooltip="Restore the selected real server on every director",
        ),
        Binding(
            "w",
            "write('weight', False)",
            "Weight",
            id="fleet.weight",
            tooltip="Set the selected real server's weight on this director",
        ),
        Binding(
            "W",
            "write('weight', True)",
            "Weight all",
            id="fleet.weight_all",
            tooltip="Set the selected real server's weight on every director",
        ),
        Binding(
            "t",
            "timeouts(False)",
            "Timeouts",
            id="fleet.director_timeouts",
            tooltip="Set the IPVS timeouts on this director",
        ),
        Binding(
            "T",
            "timeouts(True)",
            "Timeouts all",
            id="fleet.director_timeouts_all",
            tooltip="Set the IPVS timeouts on every director (one confirm dialog)",
        ),
        Binding(
            "c",
            "connections",
            "Conns",
            id="fleet.connections",
            tooltip="This director's IPVS connection table (over its agent)",
        ),
        Binding(
            "f",
            "full_dashboard",
            "Full dashboard",
            id="fleet.full_dashboard",
            tooltip="This director's full dashboard over its agent (lvstop top --via)",
        ),
    ]

    def __init__(self, name: str) -> None:
        super().__init__()
        self.director_name = name

    @property
    def fleet(self) -> FleetApp:
        from lvstop.tui.fleet.app import FleetApp

        assert isinstance(self.app, FleetApp)
        return self.app

    def compose(self) -> ComposeResult:
        yield Static("", id="facts", markup=False)
        instances = LineTable(
            INSTANCE_COLUMNS, empty_text="no keepalived instances", id="instances"
        )
        instances.border_title = "keepalived"
        yield instances
        table = LineTable(RS_COLUMNS, empty_text="no real servers", id="real-servers")
        table.border_title = "Real servers"
        yield table
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_view()
        self.query_one("#real-servers", LineTable).focus()

    def refresh_view(self) -> None:
        directors = self.fleet.directors
        d = next((x for x in directors if x.name == self.director_name), None)
        if d is None:
            return
        self.query_one("#facts", Static).update(Text(escape_controls(facts(d))))
        self.query_one("#instances", LineTable).set_rows(instance_rows(d))
        others = [x for x in directors if x.name != d.name]
        table = self.query_one("#real-servers", LineTable)
        table.set_rows(real_server_rows(d, others))
        table.border_title = f"Real servers on {d.name}"

    def action_full_dashboard(self) -> None:
        self.fleet.full_dashboard(self.director_name)

    def action_timeouts(self, everywhere: bool) -> None:
        self.fleet.start_timeouts(self.director_name, everywhere)

    def action_connections(self) -> None:
        self.fleet.show_connections(self.director_name)

    def action_write(self, op: str, everywhere: bool) -> None:
        key = self.query_one("#real-servers", LineTable).cursor_key
        if key is None:
            self.notify("no real server selected", severity="warning")
            return
        self.fleet.start_write(op, key, self.director_name, everywhere)


class FleetConfirmScreen(ConfirmScreen):
    """The one dialog of a fleet write: each director's before → after (or why it is left
    out); the confirm dialog's keys, buttons and look."""

    DEFAULT_CSS = """
    FleetConfirmScreen #steps { margin: 1 0; }
    """

    def __init__(self, title: str, steps: Sequence[Step]) -> None:
        super().__init__(title, "", "", "")
        self.steps = tuple(steps)

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(escape_controls(self.title_text), id="title", markup=False)
            yield Static(
                escape_controls("\n".join(s.text() for s in self.steps)), id="steps", markup=False
            )
            with Horizontal(id="buttons"):
                yield Button("Apply (y)", variant="warning", id="apply")
                yield Button("Cancel (n)", id="cancel")
