"""The fleet screen (Pilot), fed two directors recorded in the lab (``tests/data/fleet``) and
a third that never answers: every key flow, including cancel and a partial failure."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

from lvstop.fleet.client import FleetError
from lvstop.fleet.model import CONNECTING, DOWN, LIVE, Director, director_view
from lvstop.tui.fleet.app import FleetApp
from lvstop.tui.fleet.screens import DirectorScreen, FleetConfirmScreen
from lvstop.tui.widgets.line_table import LineTable

DATA = Path(__file__).resolve().parents[1] / "data" / "fleet"
RS1 = "tcp:10.0.5.96:8888->10.0.5.91:8888"


class FakeDirector:
    """A director replaying its recorded agent state; requests answered as told."""

    def __init__(
        self,
        node: str | None,
        name: str | None = None,
        *,
        hang: bool = False,
        refuse: str | None = None,
    ) -> None:
        self.data = json.loads((DATA / f"{node}.json").read_text()) if node else None
        self._name = name or (self.data["name"] if self.data else "hung")
        self.hang = hang
        self.refuse = refuse
        self.on_change: Any = None
        self.on_event: Any = None
        self.requests: list[dict[str, Any]] = []
        self.closed = False
        self.status = CONNECTING if hang else LIVE
        self.reason = ""
        self.reconnects = 0

    @property
    def name(self) -> str:
        return str(self._name)

    def view(self) -> Director:
        if self.data is None or self.status != LIVE:
            return Director(name=self.name, status=self.status, reason=self.reason)
        return director_view(self.name, self.data["hello"], self.data["state"], updated_at=1.0)

    async def run(self) -> None:
        if self.on_change is not None:
            self.on_change(self)
        await asyncio.Event().wait()  # a hanging ssh, or an agent that never stops

    async def request(self, op: str, within: float = 60.0, **args: Any) -> dict[str, Any]:
        self.requests.append({"op": op, **args})
        if self.refuse:
            raise FleetError(f"{self.name}: {self.refuse}")
        assert self.data is not None
        state = self.data["state"]
        if op == "timeouts":
            before = dict(state["ipvs"]["timeouts"])
            state["ipvs"]["timeouts"] = {k: args[k] or before[k] for k in before}
            return {"type": "result", "ok": True, "message": f"timeouts {before} -> {args}"}
        if op == "conns":
            return {"type": "result", "ok": True, "conns": CONNS, "truncated": False}
        rs = state["real_server"][args["rs"]]
        before = rs["weight"]
        rs["weight"] = 0 if op == "drain" else args.get("weight", before)
        return {
            "type": "result",
            "ok": True,
            "message": f"{args['rs']}: weight {before} -> {rs['weight']}",
        }

    def reconnect_now(self) -> None:
        self.reconnects += 1

    async def close(self) -> None:
        self.closed = True


#: two entries as the agent's conns request gives them (from /proc/net/ip_vs_conn in the lab)
CONNS = [
    {
        "protocol": "tcp",
        "client": "10.0.5.100:40522",
        "virtual": "10.0.5.96:8888",
        "real": "10.0.5.91:8888",
        "state": "ESTABLISHED",
        "expires": 897,
    },
    {
        "protocol": "tcp",
        "client": "10.0.5.100:40524",
        "virtual": "10.0.5.96:8888",
        "real": "10.0.5.92:8888",
        "state": "TIME_WAIT",
        "expires": 110,
    },
]


def app_with(*directors: FakeDirector, **kw: Any) -> FleetApp:
    return FleetApp(list(directors), interval=0.05, clock=lambda: 1_790_000_000.0, **kw)


def text_of(app: FleetApp, selector: str) -> str:
    table = app.query_one(selector, LineTable)
    return "\n".join(
        " | ".join(table.get_row(k).cells)  # type: ignore[union-attr]
        for k in table.ordered_keys
    )


def toast_texts(app: FleetApp) -> list[str]:
    """The notifications on the screen, as the user reads them."""
    return [str(toast.render()) for toast in app.screen.query("Toast")]


async def settle(pilot: Any, app: FleetApp, cond: Any) -> None:
    for _ in range(200):
        await pilot.pause(0.02)
        if cond():
            return
    raise AssertionError("condition not reached")


async def open_first_director(pilot: Any, app: FleetApp) -> None:
    """Once a director is live, Enter on the overview's first row: its screen."""
    await settle(pilot, app, lambda: "live" in text_of(app, "#overview"))
    await pilot.press("enter")
    await settle(pilot, app, lambda: isinstance(app.screen, DirectorScreen))


async def test_overview_matrix_and_a_hung_director() -> None:
    d1, d2, hung = FakeDirector("d1"), FakeDirector("d2"), FakeDirector(None, "root@h", hang=True)
    app = app_with(d1, d2, hung)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app, lambda: "live" in text_of(app, "#overview"))
        overview = text_of(app, "#overview")
        assert f"{d1.name} | live | up" in overview
        assert "root@h | connecting" in overview
        matrix = text_of(app, "#vrids")
        assert "51 | MASTER | BACKUP | ? | 10.0.5.90 (root@10.0.5.90)" in matrix
        assert "52 | BACKUP | MASTER | ? | 10.0.5.93 (root@10.0.5.93)" in matrix
        assert app.query_one("#diffs", LineTable).row_count == 0
        assert app.query_one("#diffs", LineTable).border_subtitle == "none: the IPVS tables agree"
        await pilot.press("q")
    assert d1.closed and hung.closed


async def test_a_difference_is_listed_and_counted() -> None:
    d1, d2 = FakeDirector("d1"), FakeDirector("d2")
    d2.data["state"]["real_server"][RS1]["weight"] = 3  # type: ignore[index]
    app = app_with(d1, d2)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app, lambda: app.query_one("#diffs", LineTable).row_count == 1)
        assert f"{RS1} | weight | {d1.name}: 1  {d2.name}: 3" in text_of(app, "#diffs")
        assert app.query_one("#diffs", LineTable).border_subtitle == "1 found"
        assert text_of(app, "#overview").splitlines()[1].endswith("| 1")  # d2 is the odd one


async def test_drain_on_all_with_one_confirm_then_cancel_changes_nothing() -> None:
    d1, d2 = FakeDirector("d1"), FakeDirector("d2")
    app = app_with(d1, d2)
    async with app.run_test(size=(160, 48)) as pilot:
        await open_first_director(pilot, app)
        table = app.screen.query_one("#real-servers", LineTable)
        await settle(pilot, app, lambda: table.cursor_key == RS1)
        await pilot.press("D")
        await settle(pilot, app, lambda: isinstance(app.screen, FleetConfirmScreen))
        assert isinstance(app.screen, FleetConfirmScreen)
        assert [s.text() for s in app.screen.steps] == [
            f"{d1.name}: weight 1 → 0",
            f"{d2.name}: weight 1 → 0",
        ]
        await pilot.press("n")
        await settle(pilot, app, lambda: isinstance(app.screen, DirectorScreen))
        assert d1.requests == [] and d2.requests == []
        await pilot.press("D")
        await settle(pilot, app, lambda: isinstance(app.screen, FleetConfirmScreen))
        await pilot.press("y")
        await settle(pilot, app, lambda: d1.requests and d2.requests)
        assert d1.requests == d2.requests == [{"op": "drain", "rs": RS1}]


async def test_partial_failure_is_said_per_director() -> None:
    d1, d2 = FakeDirector("d1"), FakeDirector("d2", refuse="sudo: a password is required")
    app = app_with(d1, d2)
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await open_first_director(pilot, app)
        await pilot.press("W")
        await settle(pilot, app, lambda: app.screen.__class__.__name__ == "WeightScreen")
        await pilot.press("backspace", "4", "enter")
        await settle(pilot, app, lambda: isinstance(app.screen, FleetConfirmScreen))
        assert isinstance(app.screen, FleetConfirmScreen)
        assert app.screen.steps[1].text() == f"{d2.name}: weight 1 → 4"
        await pilot.press("y")
        await settle(
            pilot,
            app,
            lambda: any("PARTIAL" in text for text in toast_texts(app)),
        )
        message = next(text for text in toast_texts(app) if "PARTIAL" in text)
        assert f"done on {d1.name}" in message
        assert f"{d2.name} FAILED: {d2.name}: sudo: a password is required" in message
        assert d1.requests == [{"op": "weight", "rs": RS1, "weight": 4}]


async def test_a_director_down_shows_its_reason_and_reconnects_on_c() -> None:
    d1, d2 = FakeDirector("d1"), FakeDirector("d2")
    d2.status, d2.reason = DOWN, "ssh: connect to host 10.0.5.93 port 22: Connection refused"
    app = app_with(d1, d2)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app, lambda: "DOWN" in text_of(app, "#overview"))
        reasons = str(app.query_one("#reasons").render())
        assert "Connection refused" in reasons
        assert "52 | BACKUP | ? |" in text_of(app, "#vrids")
        table = app.query_one("#overview", LineTable)
        table.move_cursor_to(d2.name)
        await pilot.press("c")
        assert d2.reconnects == 1
        d2.status = LIVE
        d2.on_change(d2)
        await settle(pilot, app, lambda: "DOWN" not in text_of(app, "#overview"))


async def test_hostile_names_are_text() -> None:
    d1 = FakeDirector("d1")
    assert d1.data is not None
    hostile = copy.deepcopy(d1.data)
    hostile["state"]["instance"]["[bold]VI_1\x1b[31m"] = hostile["state"]["instance"].pop(
        next(iter(hostile["state"]["instance"]))
    )
    d1.data = hostile
    app = app_with(d1)
    async with app.run_test(size=(160, 48)) as pilot:
        await open_first_director(pilot, app)
        rows = text_of(app.screen, "#instances")  # type: ignore[arg-type]
        assert "[bold]VI_1" in rows


async def test_a_redraw_or_event_during_shutdown_is_ignored() -> None:
    """Textual removes the widgets before it stops the timers: a redraw tick or a director's
    event in between once ended a loaded run with NoMatches('#overview')."""
    d1, d2 = FakeDirector("d1"), FakeDirector("d2")
    app = app_with(d1, d2)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app, lambda: "live" in text_of(app, "#overview"))
    assert not app.is_running
    app._dirty = True
    app._redraw_if_dirty()
    app._event("d1", {"source": "agent", "text": "late"})


async def test_timeouts_on_every_director_through_one_confirm_and_cancel() -> None:
    d1, d2 = FakeDirector("d1"), FakeDirector("d2")
    assert d2.data is not None
    d2.data["state"]["ipvs"]["timeouts"]["tcpfin"] = 60  # d2 differs before the write
    app = app_with(d1, d2)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app, lambda: "live" in text_of(app, "#overview"))
        await pilot.press("T")
        await settle(pilot, app, lambda: app.screen.__class__.__name__ == "TimeoutsScreen")
        await pilot.press("escape")  # cancel in the form: nothing asked, nothing sent
        await settle(pilot, app, lambda: app.screen.__class__.__name__ == "Screen")
        await pilot.press("T")
        await settle(pilot, app, lambda: app.screen.__class__.__name__ == "TimeoutsScreen")
        for _ in range(3):
            await pilot.press("backspace")
        await pilot.press("6", "0", "enter")  # tcp 60; tcpfin and udp as d1 has them
        await settle(pilot, app, lambda: isinstance(app.screen, FleetConfirmScreen))
        assert isinstance(app.screen, FleetConfirmScreen)
        assert [s.text() for s in app.screen.steps] == [
            f"{d1.name}: timeouts tcp/tcpfin/udp 900/120/300 → 60/120/300",
            f"{d2.name}: timeouts tcp/tcpfin/udp 900/60/300 → 60/120/300",
        ]
        assert "every director" in app.screen.title_text
        await pilot.press("n")
        await settle(pilot, app, lambda: not isinstance(app.screen, FleetConfirmScreen))
        assert d1.requests == [] and d2.requests == []
        await pilot.press("T")
        await settle(pilot, app, lambda: app.screen.__class__.__name__ == "TimeoutsScreen")
        for _ in range(3):
            await pilot.press("backspace")
        await pilot.press("6", "0", "enter")
        await settle(pilot, app, lambda: isinstance(app.screen, FleetConfirmScreen))
        await pilot.press("y")
        await settle(pilot, app, lambda: d1.requests and d2.requests)
        want = {"op": "timeouts", "tcp": 60, "tcpfin": 120, "udp": 300}
        assert d1.requests == d2.requests == [want]


async def test_timeouts_on_one_director_from_its_screen() -> None:
    d1, d2 = FakeDirector("d1"), FakeDirector("d2")
    app = app_with(d1, d2)
    async with app.run_test(size=(160, 48)) as pilot:
        await open_first_director(pilot, app)
        await pilot.press("t")
        await settle(pilot, app, lambda: app.screen.__class__.__name__ == "TimeoutsScreen")
        await pilot.press("tab", "backspace", "backspace", "backspace", "3", "0", "enter")
        await settle(pilot, app, lambda: isinstance(app.screen, FleetConfirmScreen))
        assert isinstance(app.screen, FleetConfirmScreen)
        assert [s.text() for s in app.screen.steps] == [
            f"{d1.name}: timeouts tcp/tcpfin/udp 900/120/300 → 900/30/300"
        ]
        await pilot.press("y")
        await settle(pilot, app, lambda: bool(d1.requests))
        assert d1.requests == [{"op": "timeouts", "tcp": 900, "tcpfin": 30, "udp": 300}]
        assert d2.requests == []


async def test_a_directors_connections_over_its_agent() -> None:
    d1, d2 = FakeDirector("d1"), FakeDirector("d2")
    app = app_with(d1, d2)
    async with app.run_test(size=(160, 48)) as pilot:
        await open_first_director(pilot, app)
        await pilot.press("c")
        await settle(pilot, app, lambda: app.screen.__class__.__name__ == "ConnectionsScreen")
        table = app.screen.query_one("#conns", LineTable)
        await settle(pilot, app, lambda: table.row_count == 2)
        rows = text_of(app.screen, "#conns")  # type: ignore[arg-type]
        assert "10.0.5.100:40522" in rows and "TIME_WAIT" in rows
        assert {"op": "conns", "limit": 2000} in d1.requests and d2.requests == []
        await pilot.press("escape")
        await settle(pilot, app, lambda: isinstance(app.screen, DirectorScreen))


async def test_full_dashboard_does_not_block_the_fleet(tmp_path: Path) -> None:
    """While `f`'s dashboard holds the terminal (here: a child that waits for a file), the
    fleet goes on: a director's change reaches its tables; the child's end is said."""
    import sys

    done = tmp_path / "quit"
    child = (
        "import os, sys, time\n"
        "for _ in range(2400):\n"
        f"    if os.path.exists({str(done)!r}): sys.exit(3)\n"
        "    time.sleep(0.05)\n"
        "sys.exit(4)\n"
    )
    d1, d2 = FakeDirector("d1"), FakeDirector("d2")
    argv: list[str] = []

    def dashboard(name: str) -> list[str]:
        argv.append(name)
        return [sys.executable, "-c", child]

    app = app_with(d1, d2, dashboard_argv=dashboard)
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await open_first_director(pilot, app)
        await pilot.press("f")
        await settle(pilot, app, lambda: app.dashboard_pid is not None)
        assert argv == [d1.name]
        d2.status, d2.reason = DOWN, "ssh: Connection refused"
        d2.on_change(d2)
        await settle(pilot, app, lambda: any(d.reason for d in app.directors))
        assert app.dashboard_pid is not None  # the child still runs meanwhile
        await pilot.press("f")  # one at a time
        assert argv == [d1.name]
        done.write_text("")
        await settle(pilot, app, lambda: app.dashboard_pid is None)
        await settle(
            pilot,
            app,
            lambda: any("ended with status 3" in text for text in toast_texts(app)),
        )
        assert isinstance(app.screen, DirectorScreen)
