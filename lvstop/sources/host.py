"""Host figures for the dashboard's host strip: CPU, load, memory, per-interface rates, keepalived.

Plain Python on psutil (no Textual). ``HostReader.read()`` is synchronous and cheap (a few
/proc reads); the dashboard calls it off the event loop. Interface rates come from the
difference between two reads, so the first read reports no rates.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterable
from typing import Any

import psutil

from lvstop.model.host import HostStats, InterfaceRate, KeepalivedPids


def interface_rates(
    before: dict[str, tuple[int, int]],
    after: dict[str, tuple[int, int]],
    seconds: float,
) -> tuple[InterfaceRate, ...]:
    """Rates from two counter readings ``{name: (rx_bytes, tx_bytes)}``.

    Interfaces present in only one reading are skipped; a counter that went backwards
    (interface recreated, 32-bit wrap) reads as 0 rather than a negative rate.
    """
    if seconds <= 0:
        return ()
    rates = []
    for name in sorted(after):
        if name not in before:
            continue
        rx0, tx0 = before[name]
        rx1, tx1 = after[name]
        rates.append(InterfaceRate(name, max(0, rx1 - rx0) / seconds, max(0, tx1 - tx0) / seconds))
    return tuple(rates)


def find_keepalived(infos: Iterable[dict[str, Any]] | None = None) -> KeepalivedPids:
    """This director's keepalived: the trusted keepalived processes (root's, see
    ``keepalived_state.untrusted_reason``) of the network namespace lvstop watches (its own),
    parent first; ``started`` is the parent's start. Another namespace's keepalived (a second
    director on the same machine) is not this director's. ``infos``: recorded
    ``scan_processes()`` dicts (tests)."""
    from lvstop.sources import keepalived_state

    procs = keepalived_state.own_netns_processes(keepalived_state.find_processes(infos))
    parent = next((p for p in procs if p.role == "parent"), None)
    if parent is None:
        return KeepalivedPids((), None)
    family = [p for p in procs if p.pid == parent.pid or p.ppid == parent.pid]
    return KeepalivedPids(tuple(p.pid for p in family), parent.started or None)


class HostReader:
    """Stateful reader: keeps the previous interface counters to turn them into rates."""

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        skip_interfaces: tuple[str, ...] = ("lo",),
    ) -> None:
        self._clock = clock
        self._skip = skip_interfaces
        self._last_counters: dict[str, tuple[int, int]] = {}
        self._last_time: float | None = None
        self._hostname = socket.gethostname()
        # The first cpu_percent(None) call only primes psutil's counters.
        psutil.cpu_percent(interval=None)

    def _counters(self) -> dict[str, tuple[int, int]]:
        counters = psutil.net_io_counters(pernic=True)
        return {
            name: (c.bytes_recv, c.bytes_sent)
            for name, c in counters.items()
            if name not in self._skip
        }

    def read(self) -> HostStats:
        now = self._clock()
        counters = self._counters()
        rates: tuple[InterfaceRate, ...] = ()
        if self._last_time is not None:
            rates = interface_rates(self._last_counters, counters, now - self._last_time)
        self._last_counters, self._last_time = counters, now
        mem = psutil.virtual_memory()
        try:
            load = os.getloadavg()
        except OSError:  # pragma: no cover - no /proc/loadavg
            load = (0.0, 0.0, 0.0)
        return HostStats(
            time=now,
            hostname=self._hostname,
            cpu_percent=psutil.cpu_percent(interval=None),
            load=(load[0], load[1], load[2]),
            mem_percent=float(mem.percent),
            mem_used=int(mem.total - mem.available),
            mem_total=int(mem.total),
            interfaces=rates,
            keepalived=find_keepalived(),
        )
