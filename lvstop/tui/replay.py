"""Fake sources that replay data recorded in the lab (tests, screenshots, benchmarks).

Recordings are ``lvstop dump --json`` documents (``lvstop.dump/1``) and ``VrrpSnapshot``
dicts, one JSON document per line (or one JSON list). ``FakeActions`` applies writes to the
replayed frames, so a drain shows up in the next poll as it would against the kernel.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lvstop.model.host import HostStats
from lvstop.model.ipvs import ConnEntry, IpvsSnapshot, RealServer, Service, Timeouts
from lvstop.model.vrrp import VrrpSnapshot
from lvstop.sources.conns import parse_conn_table
from lvstop.tui.incident import AdvertRing
from lvstop.tui.sources import Actions, Sources


def load_json_documents(path: str | Path) -> list[dict[str, Any]]:
    """A JSON list, one JSON document, or JSON lines."""
    text = Path(path).read_text(encoding="utf-8")
    stripped = text.lstrip()
    if stripped.startswith("["):
        data = json.loads(stripped)
        return [d for d in data if isinstance(d, dict)]
    try:
        one = json.loads(stripped)
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return [one] if isinstance(one, dict) else []


def load_ipvs_frames(path: str | Path) -> list[IpvsSnapshot]:
    return [IpvsSnapshot.from_dict(d) for d in load_json_documents(path)]


def load_vrrp_frames(path: str | Path) -> list[VrrpSnapshot]:
    docs = load_json_documents(path)
    return [VrrpSnapshot.from_dict(d) for d in docs if d.get("type", "snapshot") == "snapshot"]


class FakeActions:
    """Writes applied to a replay (weights and timeouts overridden in later frames).

    ``fail`` makes every write raise ``OSError(fail)`` (the kernel's refusal); ``refuse``
    is returned by ``refusal()`` (no CAP_NET_ADMIN). ``calls`` records every write.
    """

    def __init__(
        self, fail: str | None = None, refuse: str | None = None, delay: float = 0.0
    ) -> None:
        self.fail = fail
        self.refuse = refuse
        self.delay = delay
        self.weights: dict[str, int] = {}
        self.remembered: dict[str, int] = {}
        self.timeouts: Timeouts | None = None
        self.calls: list[tuple[str, Any]] = []

    def refusal(self) -> str | None:
        return self.refuse

    def return_weights(self) -> dict[str, int]:
        return dict(self.remembered)

    async def _write(self, what: str, arg: Any) -> None:
        self.calls.append((what, arg))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail:
            raise OSError(self.fail)

    async def drain(self, rs: RealServer) -> str:
        await self._write("drain", rs.key)
        self.remembered[rs.key] = rs.weight
        self.weights[rs.key] = 0
        return f"{rs.endpoint} drained (weight {rs.weight} → 0)"

    async def restore(self, rs: RealServer) -> str:
        await self._write("restore", rs.key)
        weight = self.remembered.pop(rs.key, 1)
        self.weights[rs.key] = weight
        return f"{rs.endpoint} restored (weight 0 → {weight})"

    async def set_weight(self, rs: RealServer, weight: int) -> str:
        await self._write("weight", (rs.key, weight))
        self.weights[rs.key] = weight
        return f"{rs.endpoint} weight {rs.weight} → {weight}"

    async def set_timeouts(self, timeouts: Timeouts) -> str:
        await self._write("timeouts", timeouts)
        self.timeouts = timeouts
        return f"timeouts set to {timeouts.tcp}/{timeouts.tcpfin}/{timeouts.udp}"

    def apply(self, snapshot: IpvsSnapshot) -> IpvsSnapshot:
        if not self.weights and self.timeouts is None:
            return snapshot

        def svc(s: Service) -> Service:
            rss = tuple(
                replace(rs, weight=self.weights[rs.key]) if rs.key in self.weights else rs
                for rs in s.real_servers
            )
            return replace(s, real_servers=rss)

        return IpvsSnapshot(
            services=tuple(svc(s) for s in snapshot.services),
            timeouts=self.timeouts or snapshot.timeouts,
            daemons=snapshot.daemons,
            taken_at=snapshot.taken_at,
            wall_time=snapshot.wall_time,
            service_stats=snapshot.service_stats,
        )


class _AfterEnd:
    """What a replay does once its frames are used up; "stall" waits until it changes."""

    def __init__(self, after_end: str) -> None:
        self._resume = asyncio.Event()
        self._after_end = ""
        self.after_end = after_end

    @property
    def after_end(self) -> str:
        return self._after_end

    @after_end.setter
    def after_end(self, value: str) -> None:
        self._after_end = value
        if value == "stall":
            self._resume.clear()
        else:
            self._resume.set()

    async def _wait_unless_stalled(self) -> None:
        await self._resume.wait()


class ReplayIpvsSource(_AfterEnd):
    """Returns the recorded frames one per poll, then holds the last (or stalls/fails).

    ``after_end``: "hold" repeats the last frame with time advancing (nothing changes),
    "stall" never answers again (the panel turns stale), "fail" raises ``OSError``.
    """

    def __init__(
        self,
        frames: Sequence[IpvsSnapshot],
        actions: FakeActions | None = None,
        after_end: str = "hold",
        interval: float = 1.0,
    ) -> None:
        if not frames:
            frames = [IpvsSnapshot()]
        super().__init__(after_end)
        self.frames = list(frames)
        self.actions = actions
        self.interval = interval
        self.index = 0
        self.polls = 0

    async def snapshot(self, focus: Collection[str] | None = None) -> IpvsSnapshot:
        """The next recorded frame (recorded whole: ``focus`` changes nothing)."""
        self.polls += 1
        if self.index < len(self.frames):
            frame = self.frames[self.index]
            self.index += 1
        else:
            await self._wait_unless_stalled()  # "stall": no answer until told otherwise
            if self.after_end == "fail":
                raise OSError("IPVS dump failed: replay ended (simulated)")
            # "hold": the last frame again, time moving on, nothing changing
            last = self.frames[-1]
            extra = (self.index - len(self.frames) + 1) * self.interval
            self.index += 1
            frame = replace(last, taken_at=last.taken_at + extra, wall_time=last.wall_time + extra)
        return self.actions.apply(frame) if self.actions else frame

    async def close(self) -> None:
        return None


class ReplayVrrpSource(_AfterEnd):
    """Recorded VRRP snapshots, one per poll. "hold" with a ``clock`` keeps the last one
    current (adverts still arriving: its times move with the clock)."""

    def __init__(
        self,
        frames: Sequence[VrrpSnapshot],
        after_end: str = "hold",
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(after_end)
        self.clock = clock
        self.frames = list(frames) or [VrrpSnapshot(time=0.0, vrids=())]
        self.index = 0
        self.started = False
        #: recent packets for the incident snapshot (a test fills it from a lab pcap)
        self.adverts = AdvertRing()

    async def start(self) -> None:
        self.started = True

    async def snapshot(self) -> VrrpSnapshot:
        if self.index < len(self.frames):
            frame = self.frames[self.index]
            self.index += 1
            return frame
        await self._wait_unless_stalled()
        if self.after_end == "fail":
            raise OSError("VRRP capture stopped (simulated)")
        last = self.frames[-1]
        if self.clock is None:
            return last
        shift = self.clock() - last.time
        return replace(
            last,
            time=last.time + shift,
            vrids=tuple(
                replace(v, last_advert=None if v.last_advert is None else v.last_advert + shift)
                for v in last.vrids
            ),
        )

    async def close(self) -> None:
        return None


class FixedHostSource:
    """The same host figures every time (recorded with ``HostStats.to_dict``)."""

    def __init__(self, stats: HostStats, clock: Callable[[], float] | None = None) -> None:
        self.stats = stats
        self.clock = clock

    def read(self) -> HostStats:
        return replace(self.stats, time=self.clock()) if self.clock else self.stats


class ReplayConns:
    def __init__(self, entries: Sequence[ConnEntry]) -> None:
        self.entries = list(entries)

    def read(self) -> list[ConnEntry]:
        return list(self.entries)


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
    directory: Path
    actions: FakeActions = field(default_factory=FakeActions)
    ipvs: ReplayIpvsSource | None = None
    vrrp: ReplayVrrpSource | None = None

    def sources(
        self,
        actions: Actions | None = None,
        after_end: str = "stall",
        with_vrrp: bool = True,
        vrrp_after_end: str = "stall",
    ) -> Sources:
        self.ipvs = ReplayIpvsSource(self.ipvs_frames, self.actions, after_end=after_end)
        self.vrrp = ReplayVrrpSource(self.vrrp_frames, after_end=vrrp_after_end, clock=self.clock)
        text = (self.directory / "ip_vs_conn.txt").read_text(encoding="ascii")
        return Sources(
            ipvs=self.ipvs,
            host=FixedHostSource(self.host),
            actions=actions or self.actions,
            vrrp=self.vrrp if with_vrrp and self.vrrp_frames else None,
            conns=ReplayConns(parse_conn_table(text)[0]),
            clock=self.clock,
        )

    def done(self) -> bool:
        """Every recorded frame was handed out."""
        ipvs = self.ipvs is None or self.ipvs.index >= len(self.ipvs.frames)
        vrrp = self.vrrp is None or not self.vrrp_frames or self.vrrp.index >= len(self.vrrp.frames)
        return ipvs and vrrp


def load_state(state: str, directory: Path) -> Replay:
    """A recorded state (``<state>.ipvs.jsonl``, ``<state>.vrrp.jsonl``, ``host.jsonl``,
    ``ip_vs_conn.txt`` in ``directory``), with the clock frozen just after its last frame."""
    ipvs = load_ipvs_frames(directory / f"{state}.ipvs.jsonl")
    vrrp_path = directory / f"{state}.vrrp.jsonl"
    vrrp = load_vrrp_frames(vrrp_path) if vrrp_path.exists() else []
    host = HostStats.from_dict(load_json_documents(directory / "host.jsonl")[0])
    times = [f.wall_time for f in ipvs] + [f.time for f in vrrp]
    return Replay(ipvs, vrrp, host, Clock(max(times) + 0.5), directory)
