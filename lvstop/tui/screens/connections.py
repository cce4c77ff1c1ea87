"""`c`: the IPVS connection table, read off the loop while this screen is open.

Filter terms (all must match): plain text matches anywhere; ``client=``, ``rs=``, ``state=``
match one field. Counts per state and per real server; persistence templates are marked
(``tmpl``): they are why a client sticks to one real server.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from lvstop.model.ipvs import ConnEntry
from lvstop.tui.rows import Column, Row
from lvstop.tui.sources import ConnsSource
from lvstop.tui.widgets.line_table import LineTable

CONN_COLUMNS = (
    Column("proto", "Proto", 5),
    Column("client", "Client", 21),
    Column("real", "Real server", 21),
    Column("state", "State", 11),
    Column("expires", "Expires", 7, numeric=True),
    Column("tmpl", "Tmpl", 4),
    Column("virtual", "Virtual", 21, priority=1),
)

#: connection-table rows shown at most (the counts always cover everything)
MAX_ROWS = 20_000


def is_template(entry: ConnEntry) -> bool:
    """Persistence templates: protocol IP (or NONE state) with client port 0."""
    return entry.protocol.lower() == "ip" or (entry.client_port == 0 and entry.state == "NONE")


def matches(entry: ConnEntry, terms: Sequence[str]) -> bool:
    for term in terms:
        field, sep, value = term.partition("=")
        if sep:
            value = value.lower()
            if field == "client" and value not in entry.client_endpoint.lower():
                return False
            if field == "rs" and value not in entry.real_endpoint.lower():
                return False
            if field == "state" and value not in entry.state.lower():
                return False
            if field not in ("client", "rs", "state"):
                return False
        else:
            hay = " ".join(
                (entry.client_endpoint, entry.real_endpoint, entry.virtual_endpoint, entry.state)
            ).lower()
            if term.lower() not in hay:
                return False
    return True


def summarize(entries: Sequence[ConnEntry]) -> str:
    states = Counter(e.state for e in entries if not is_template(e))
    per_rs = Counter(e.real_endpoint for e in entries if not is_template(e))
    templates = sum(1 for e in entries if is_template(e))
    state_text = ", ".join(f"{s} {n}" for s, n in states.most_common()) or "none"
    rs_text = ", ".join(f"{rs} {n}" for rs, n in per_rs.most_common(6)) or "none"
    return (
        f"{len(entries)} entries  states: {state_text}\nper real server: {rs_text}  "
        f"persistence templates: {templates}"
    )


def conn_rows(entries: Sequence[ConnEntry]) -> list[Row]:
    rows = []
    for i, e in enumerate(entries[:MAX_ROWS]):
        tmpl = is_template(e)
        rows.append(
            Row(
                f"{i}|{e.protocol}|{e.client_endpoint}|{e.virtual_endpoint}|{e.real_endpoint}",
                (
                    e.protocol.upper(),
                    e.client_endpoint,
                    e.real_endpoint,
                    e.state,
                    f"{e.expires}s",
                    "tmpl" if tmpl else "",
                    e.virtual_endpoint,
                ),
                (
                    e.protocol,
                    e.client_endpoint,
                    e.real_endpoint,
                    e.state,
                    e.expires,
                    tmpl,
                    e.virtual_endpoint,
                ),
                ("", "", "", "", "", "accent" if tmpl else "", ""),
            )
        )
    return rows


class ConnectionsScreen(Screen[None]):
    DEFAULT_CSS = """
    ConnectionsScreen #summary { height: auto; padding: 0 1; background: $panel; }
    ConnectionsScreen LineTable { height: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "dismiss", "Back", id="conns.back"),
        Binding(
            "slash",
            "filter",
            "Filter",
            id="conns.filter",
            tooltip="client=, rs=, state= or any text",
        ),
        Binding("R", "reload", "Reload", id="conns.reload", tooltip="Read the table again"),
    ]

    def __init__(self, source: ConnsSource, refresh_every: float = 2.0) -> None:
        super().__init__()
        self.source = source
        self.refresh_every = refresh_every
        self.entries: list[ConnEntry] = []

    def compose(self) -> ComposeResult:
        yield Static("reading the connection table…", id="summary", markup=False)
        yield Input(
            placeholder="filter: client=10.0.5.100 rs=10.0.5.91 state=ESTABLISHED", id="conn-filter"
        )
        table = LineTable(CONN_COLUMNS, empty_text="no connection entries", id="conns")
        table.border_title = "Connections"
        yield table
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(LineTable).focus()
        self.action_reload()
        self.set_interval(self.refresh_every, self.action_reload)

    def action_reload(self) -> None:
        # One read at a time: a 100,000-entry table takes seconds (the kernel restarts its
        # walk every page); a thread cannot be cancelled, so never start a second one.
        if not any(w.group == "conns" and not w.is_finished for w in self.workers):
            self._read()

    @work(group="conns", thread=True, exit_on_error=False, description="read /proc/net/ip_vs_conn")
    def _read(self) -> None:
        entries = self.source.read()
        self.app.call_from_thread(self._show, entries)

    def _show(self, entries: list[ConnEntry]) -> None:
        self.entries = entries
        self._apply()

    def _apply(self) -> None:
        terms = self.query_one("#conn-filter", Input).value.split()
        shown = [e for e in self.entries if matches(e, terms)]
        self.query_one("#summary", Static).update(summarize(shown))
        self.query_one(LineTable).set_rows(conn_rows(shown))

    def on_input_changed(self, event: Input.Changed) -> None:
        self._apply()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one(LineTable).focus()

    def action_filter(self) -> None:
        self.query_one("#conn-filter", Input).focus()
