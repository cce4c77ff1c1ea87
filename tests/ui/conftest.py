"""Dashboard test fixtures: the App fed by replay fakes of data recorded in the lab.

Recordings (``tests/data/ui/*.jsonl``) come from ``tests/lab/test_dashboard_record.py``:
d1's IPVS table and VRRP view in the states steady / drained / failover / split brain, plus
an empty namespace. The clock is frozen at the recording's last moment (``Clock``), so ages,
uptimes and timestamps are stable in SVG snapshots; times print in UTC.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from lvstop.tui.app import LvstopApp
from lvstop.tui.replay import Replay, load_state
from lvstop.tui.sources import Actions, ReadOnlyActions

DATA = Path(__file__).resolve().parents[1] / "data" / "ui"
STATES = ("empty", "steady", "drained", "failover", "split")

os.environ["TZ"] = "UTC"
time.tzset()


@pytest.fixture
def replay() -> Callable[[str], Replay]:
    return lambda state: load_state(state, DATA)


def make_app(rep: Replay, *, read_only: bool = False, actions: Actions | None = None,
             after_end: str = "stall", incident_dir: Path | None = None,
             lab: bool = False) -> LvstopApp:
    if read_only:
        actions = ReadOnlyActions(inner=rep.actions)
    return LvstopApp(rep.sources(actions, after_end), interval=0.05, read_only=read_only,
                     incident_dir=incident_dir, lab=lab)


async def until(pilot, predicate: Callable[[], object], what: str,
                seconds: float = 30.0) -> None:
    """Let the app run until ``predicate()`` holds; fail naming ``what`` after ``seconds``
    seconds (a generous deadline for a loaded machine: it returns as soon as it holds)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not predicate():
        if loop.time() >= deadline:
            raise AssertionError(f"timed out after {seconds:g}s waiting for {what}")
        await pilot.pause(0.02)


async def settle(pilot, rep: Replay) -> None:
    """Wait until every recorded frame went through the App (and the screen caught up)."""
    # a generous deadline (a loaded CI machine replays slowly); returns as soon as it is done
    for _ in range(3000):
        if rep.done():
            break
        await asyncio.sleep(0.01)
    await pilot.pause()
    await asyncio.sleep(0.05)
    await pilot.pause()
