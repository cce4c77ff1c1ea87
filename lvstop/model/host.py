"""The host's figures as the host strip and the header show them: CPU, load, memory,
per-interface rates and keepalived's processes (read by ``lvstop.sources.host``).

``to_dict`` / ``from_dict`` are the ``host`` part of the incident snapshot and of the recorded
dashboard scenes (tests/data/ui/host.jsonl).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lvstop.model.jsonform import JsonModel


@dataclass(frozen=True, slots=True)
class InterfaceRate(JsonModel):
    """Bytes per second received and sent on one interface since the previous read."""

    name: str
    rx_bps: float
    tx_bps: float

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InterfaceRate:
        return cls(str(data["name"]), float(data["rx_bps"]), float(data["tx_bps"]))


@dataclass(frozen=True, slots=True)
class KeepalivedPids(JsonModel):
    """keepalived as the process table shows it: pids of all its processes, oldest start."""

    pids: tuple[int, ...]
    started: float | None  # epoch seconds of the oldest process

    @property
    def running(self) -> bool:
        return bool(self.pids)

    def uptime(self, now: float) -> float | None:
        return None if self.started is None else max(0.0, now - self.started)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KeepalivedPids:
        started = data.get("started")
        return cls(
            tuple(int(p) for p in data.get("pids") or ()),
            None if started is None else float(started),
        )


@dataclass(frozen=True, slots=True)
class HostStats(JsonModel):
    """One reading of the host: what the host strip and the header show."""

    time: float
    hostname: str
    cpu_percent: float
    load: tuple[float, float, float]
    mem_percent: float
    mem_used: int
    mem_total: int
    interfaces: tuple[InterfaceRate, ...] = ()
    keepalived: KeepalivedPids = field(default_factory=lambda: KeepalivedPids((), None))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HostStats:
        load = tuple(float(x) for x in data.get("load") or (0.0, 0.0, 0.0))
        return cls(
            time=float(data["time"]),
            hostname=str(data.get("hostname", "")),
            cpu_percent=float(data.get("cpu_percent", 0.0)),
            load=(load[0], load[1], load[2]),
            mem_percent=float(data.get("mem_percent", 0.0)),
            mem_used=int(data.get("mem_used", 0)),
            mem_total=int(data.get("mem_total", 0)),
            interfaces=tuple(InterfaceRate.from_dict(i) for i in data.get("interfaces") or ()),
            keepalived=KeepalivedPids.from_dict(data.get("keepalived") or {}),
        )
