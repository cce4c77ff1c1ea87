#!/usr/bin/env python3
"""Make the dashboard save SVG screenshots of itself (``App.save_screenshot``).

Feeds the App with the data recorded in the lab (``tests/data/ui``, made by
``tests/lab/test_dashboard_record.py``; pass ``--data DIR`` for a fresh recording such as
``.lab/ui-record``) with the clock frozen at the recording's end, for each state at 80×24
and 160×48, into ``screenshots/``. State "fleet": the fleet screen (``lvstop --host``) fed
the two directors recorded in the lab (``tests/data/fleet``, by
``tests/lab/test_fleet_lab.py``), with d2's weight of rs1 changed as the lab test does by hand.

    .venv/bin/python -m scripts.screenshots [--data DIR] [--out DIR] [--states a,b]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

from lvstop.fleet.model import Director, director_view  # noqa: E402
from lvstop.tui.app import LvstopApp  # noqa: E402
from lvstop.tui.fleet.app import FleetApp  # noqa: E402
from lvstop.tui.replay import Replay, load_state  # noqa: E402
from lvstop.tui.widgets.line_table import LineTable  # noqa: E402

#: the dashboard's states (tests/ui/test_snapshots.py compares each); "fleet" is the fleet screen
STATES = ("empty", "steady", "drained", "failover", "split", "stale")
FLEET_DATA = ROOT / "tests" / "data" / "fleet"
#: the recording's wall clock (its directors' state is shown as of then)
FLEET_NOW = 1_790_000_000.0


class RecordedDirector:
    """One director's agent state as the lab recorded it; never connects, never writes."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.on_change: Any = None
        self.on_event: Any = None

    @property
    def name(self) -> str:
        return str(self.data["name"])

    def view(self) -> Director:
        return director_view(
            self.name, self.data["hello"], self.data["state"], updated_at=FLEET_NOW - 0.5
        )

    async def run(self) -> None:
        if self.on_change is not None:
            self.on_change(self)
        await asyncio.Event().wait()

    async def request(self, op: str, within: float = 60.0, **args: Any) -> dict[str, Any]:
        raise OSError("a recording takes no requests")

    def reconnect_now(self) -> None:
        return None

    async def close(self) -> None:
        return None


async def shoot_fleet(size: tuple[int, int], out: Path) -> Path:
    d1, d2 = (json.loads((FLEET_DATA / f"{n}.json").read_text()) for n in ("d1", "d2"))
    d2 = copy.deepcopy(d2)
    d2["state"]["real_server"]["tcp:10.0.5.96:8888->10.0.5.91:8888"]["weight"] = 3
    app = FleetApp(
        [RecordedDirector(d1), RecordedDirector(d2)], interval=1.0, clock=lambda: FLEET_NOW
    )
    name = f"fleet-{size[0]}x{size[1]}.svg"
    async with app.run_test(size=size) as pilot:
        for _ in range(500):  # both rows drawn, the difference found
            await pilot.pause(0.01)
            if app.query_one("#diffs", LineTable).row_count and all(d.live for d in app.directors):
                break
        await pilot.pause()
        app.save_screenshot(name, path=str(out))
    return out / name


SIZES = ((80, 24), (160, 48))


def build(state: str, data: Path) -> tuple[LvstopApp, Replay]:
    """The App for one state. "stale": IPVS stops answering while VRRP and host go on."""
    rep = load_state("steady" if state == "stale" else state, data)
    sources = rep.sources(after_end="stall", vrrp_after_end="hold" if state == "stale" else "stall")
    return LvstopApp(sources, interval=0.05), rep


async def prepare(app: LvstopApp, rep: Replay, state: str) -> None:
    """Let every recorded frame through; for "stale", let 10 s pass without an IPVS answer."""
    for _ in range(500):
        if rep.done():
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    if state == "stale":
        rep.clock.now += 10.0
        await asyncio.sleep(0.2)
        app.refresh_status()
    # The replay polls fast to get through its frames; from here the App polls as the
    # dashboard does by default (and the header says "every 1s", not the replay's 0.05 s).
    app.interval = 1.0
    app.refresh_status()
    if state == "drained":
        # show the drained server of VIP 1
        app.services_table.move_cursor_to("tcp:10.0.5.96:8888")
    await asyncio.sleep(0.1)


async def shoot(state: str, size: tuple[int, int], data: Path, out: Path) -> Path:
    app, rep = build(state, data)
    name = f"{state}-{size[0]}x{size[1]}.svg"
    async with app.run_test(size=size) as pilot:
        await prepare(app, rep, state)
        await pilot.pause()
        app.save_screenshot(name, path=str(out))
    return out / name


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "tests" / "data" / "ui")
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    parser.add_argument("--states", default=",".join((*STATES, "fleet")))
    args = parser.parse_args()
    os.environ["TZ"] = "UTC"
    time.tzset()
    args.out.mkdir(parents=True, exist_ok=True)
    for state in args.states.split(","):
        for size in SIZES:
            if state == "fleet":
                print(asyncio.run(shoot_fleet(size, args.out)))
            else:
                print(asyncio.run(shoot(state, size, args.data, args.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
