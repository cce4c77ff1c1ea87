"""The host's figures as the host strip and the header show them: CPU, load, memory,
per-interface rates and keepalived's processes (read by ``lvstop.sources.host``).

``to_dict`` / ``from_dict`` are the ``host`` part of the incident snapshot and of the recorded
dashboard scenes (tests/data/ui/host.jsonl).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from lvstop.model.jsonform import JsonForm, JsonModel, from_json


@dataclass(frozen=True, slots=True)
class InterfaceRate(JsonModel):
    """Bytes per second received and sent on one interface since the previous read."""

    name: str
    rx_bps: float
    tx_bps: float

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InterfaceRate:
        return from_json(cls, data)


@dataclass(frozen=True, slots=True)
class KeepalivedPids(JsonModel):
    """keepalived as the process table shows it: pids of all its processes, oldest start."""

    pids: tuple[int, ...]
    started: float | None  # epoch seconds of the oldest process

    JSON: ClassVar[JsonForm] = JsonForm(missing={"pids": ()})

    @property
    def running(self) -> bool:
        return bool(self.pids)

    def uptime(self, now: float) -> float | None:
        return None if self.started is None else max(0.0, now - self.started)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KeepalivedPids:
        return from_json(cls, data)


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

    JSON: ClassVar[JsonForm] = JsonForm(
        missing={
            "hostname": "",
            "cpu_percent": 0.0,
            "load": (0.0, 0.0, 0.0),
            "mem_percent": 0.0,
            "mem_used": 0,
            "mem_total": 0,
        }
    )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HostStats:
        return from_json(cls, data)
