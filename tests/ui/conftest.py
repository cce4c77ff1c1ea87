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
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lvstop.model.ipvs import IpvsSnapshot
from lvstop.model.vrrp import VrrpSnapshot
from lvstop.sources.conns import parse_conn_table
from lvstop.sources.host import HostStats
from lvstop.tui.app import LvstopApp
from lvstop.tui.replay import (
    FakeActions,
    FixedHostSource,
    ReplayConns,
    ReplayIpvsSource,
    ReplayVrrpSource,
    load_ipvs_frames,
    load_json_documents,
    load_vrrp_frames,
)
from lvstop.tui.sources import Actions, ReadOnlyActions, Sources

DATA = Path(__file__).resolve().parents[1] / "data" / "ui"
STATES = ("empty", "steady", "drained", "failover", "split")

os.environ["TZ"] = "UTC"
time.tzset()


@dataclass
class Clock:
    now: float

    def __call__(self) -> float:
        return self.now


@dataclass
class Replay:
    """One state's recorded data and the fakes built from it."""

    ipvs_frames: list[IpvsSnapshot]
    vrrp_frames: list[VrrpSnapshot]
    host: HostStats
    clock: Clock
    actions: FakeActions = field(default_factory=FakeActions)
    ipvs: ReplayIpvsSource | None = None
    vrrp: ReplayVrrpSource | None = None

    def sources(self, actions: Actions | None = None, after_end: str = "stall",
                with_vrrp: bool = True) -> Sources:
        self.ipvs = ReplayIpvsSource(self.ipvs_frames, self.actions, after_end=after_end)
        self.vrrp = ReplayVrrpSource(self.vrrp_frames, after_end="stall")
        text = (DATA / "ip_vs_conn.txt").read_text(encoding="ascii")
        return Sources(ipvs=self.ipvs, host=FixedHostSource(self.host),
                       actions=actions or self.actions,
                       vrrp=self.vrrp if with_vrrp and self.vrrp_frames else None,
                       conns=ReplayConns(parse_conn_table(text)[0]), clock=self.clock)


def load_state(state: str) -> Replay:
    ipvs = load_ipvs_frames(DATA / f"{state}.ipvs.jsonl")
    vrrp_path = DATA / f"{state}.vrrp.jsonl"
    vrrp = load_vrrp_frames(vrrp_path) if vrrp_path.exists() else []
    host = HostStats.from_dict(load_json_documents(DATA / "host.jsonl")[0])
    times = [f.wall_time for f in ipvs] + [f.time for f in vrrp]
    return Replay(ipvs, vrrp, host, Clock(max(times) + 0.5))


@pytest.fixture
def replay() -> Callable[[str], Replay]:
    return load_state


def make_app(rep: Replay, *, read_only: bool = False, actions: Actions | None = None,
             after_end: str = "stall", incident_dir: Path | None = None,
             lab: bool = False) -> LvstopApp:
    if read_only:
        actions = ReadOnlyActions(inner=rep.actions)
    return LvstopApp(rep.sources(actions, after_end), interval=0.05, read_only=read_only,
                     incident_dir=incident_dir, lab=lab)


async def settle(pilot, rep: Replay) -> None:
    """Wait until every recorded frame went through the App (and the screen caught up)."""
    assert rep.ipvs is not None
    for _ in range(400):
        done_ipvs = rep.ipvs.index >= len(rep.ipvs.frames)
        done_vrrp = rep.vrrp is None or not rep.vrrp_frames or rep.vrrp.index >= len(
            rep.vrrp.frames)
        if done_ipvs and done_vrrp:
            break
        await asyncio.sleep(0.01)
    await pilot.pause()
    await asyncio.sleep(0.05)
    await pilot.pause()
