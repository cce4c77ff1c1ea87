"""Dashboard test fixtures: the App fed by replay fakes of data recorded in the lab.

Recordings (``tests/data/ui/*.jsonl``) come from ``tests/lab/test_dashboard_record.py``:
d1's IPVS table and VRRP view in the states steady / drained / failover / split brain, plus
an empty namespace. The clock is frozen at the recording's last moment (``Clock``), so ages,
uptimes and timestamps are stable in SVG snapshots; times print in UTC.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.message import Message
from textual.notifications import Notify
from textual.pilot import Pilot

from lvstop.model.ipvs import IpvsSnapshot
from lvstop.tui.app import LvstopApp
from lvstop.tui.replay import Replay, load_state
from lvstop.tui.rows import Row
from lvstop.tui.sources import Actions, KeepalivedView, ReadOnlyActions
from lvstop.tui.widgets.line_table import LineTable

DATA = Path(__file__).resolve().parents[1] / "data" / "ui"
STATES = ("empty", "steady", "drained", "failover", "split")

os.environ["TZ"] = "UTC"
time.tzset()


@pytest.fixture
def replay() -> Callable[[str], Replay]:
    return lambda state: load_state(state, DATA)


def make_app(
    rep: Replay,
    *,
    read_only: bool = False,
    actions: Actions | None = None,
    after_end: str = "stall",
    incident_dir: Path | None = None,
    lab: bool = False,
) -> LvstopApp:
    if read_only:
        actions = ReadOnlyActions(inner=rep.actions)
    return LvstopApp(
        rep.sources(actions, after_end),
        interval=0.05,
        read_only=read_only,
        incident_dir=incident_dir,
        lab=lab,
    )


class CountingStates:
    """A fixed keepalived view (widget tests) that counts the poller's rounds (``rounds``)
    and those that asked keepalived (``asked``)."""

    def __init__(self, view: KeepalivedView) -> None:
        self._view = view
        self.asked = 0
        self.rounds = 0

    def view(self) -> KeepalivedView:
        return self._view

    def refresh(self, ipvs: IpvsSnapshot | None, ask: bool = False) -> None:
        self.rounds += 1
        self.asked += ask


class Notices:
    """Every notification the App posted, in order: Textual's public ``Notify`` message, seen
    through ``app.run_test(message_hook=notices.hook)``. Unlike the toasts on the screen, none
    expires while a slow test looks, and a repeated one counts twice."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def hook(self, message: Message) -> None:
        if isinstance(message, Notify):
            self.messages.append(message.notification.message)

    def any(self, text: str) -> bool:
        """Some notification contains ``text``."""
        return any(text in m for m in self.messages)


def row_of(table: LineTable, key: str) -> Row:
    """The row ``key`` of ``table``, which must be there."""
    row = table.get_row(key)
    assert row is not None, key
    return row


async def until(
    pilot: Pilot[int], predicate: Callable[[], object], what: str, seconds: float = 30.0
) -> None:
    """Let the app run until ``predicate()`` holds; fail naming ``what`` after ``seconds``
    seconds (a generous deadline for a loaded machine: it returns as soon as it holds)."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {seconds:g}s waiting for {what}")
        await pilot.pause(0.02)


def caught_up(app: LvstopApp, rep: Replay) -> bool:
    """Every recorded frame was handed out and the App holds the last of each source."""
    if not rep.done() or app.host is None:
        return False
    if rep.ipvs is not None and (
        app.ipvs is None or app.ipvs.wall_time < rep.ipvs.frames[-1].wall_time
    ):
        return False
    return (
        app.sources.vrrp is None
        or rep.vrrp is None
        or (app.vrrp is not None and app.vrrp.time >= rep.vrrp.frames[-1].time)
    )


async def settle(pilot: Pilot[int], rep: Replay) -> None:
    """Wait until every recorded frame went through the App (and the screen caught up)."""
    app = pilot.app
    assert isinstance(app, LvstopApp)
    await until(pilot, lambda: caught_up(app, rep), "the recorded frames in the App")
    await pilot.pause()
