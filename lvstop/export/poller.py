"""The exporter's sources, polled in the background into one ``ExportSnapshot`` at a time.

Scrapes never read a source: they render the snapshot the last poll published (so a scrape
costs no netlink dump and never signals keepalived, however often Prometheus comes).

- IPVS: the netlink snapshot (``IpvsReader``, in a thread) and the totals of
  ``/proc/net/ip_vs_stats``; lvstop's rates from the counter deltas between polls.
- VRRP: the live capture and tracker as the dashboard wires them (``lvstop.tui.real``), plus a
  count of bogus packets per failed check.
- keepalived: its processes, its config and its state dumps → ``compute_drift``, every
  ``keepalived_interval`` seconds in a thread. keepalived writes its dumps only when
  signalled, so the exporter signals it only when something a verdict depends on changed (the
  kernel table's real servers and weights, this host's addresses) and at most once a minute;
  in between it reuses the last dump (``lvstop_keepalived_state_age_seconds`` says how old).

A source that raises is down (``lvstop_source_up 0`` and its series absent) until a later
poll succeeds; its error is printed once per change, as one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from lvstop.errors import LvstopError
from lvstop.export.metrics import ExportSnapshot, KeepalivedView, Published, SourceStatus
from lvstop.model.ipvs import IpvsSnapshot, Stats
from lvstop.model.keepalived import KeepalivedRuntime
from lvstop.model.vrrp import Advert, VrrpSnapshot
from lvstop.track.rates import Rates, RateTracker

if TYPE_CHECKING:  # imported when used: `lvstop export --help` stays quick
    from lvstop.model.keepalived import KeepalivedConfig
    from lvstop.sources.addresses import LocalAddresses
    from lvstop.sources.ipvs import IpvsReader
    from lvstop.sources.vrrp_capture import VrrpCapture
    from lvstop.track.vrrp import VrrpTracker

#: keepalived is signalled for its dumps at most this often (seconds)
MIN_DUMP_INTERVAL = 60.0


def _one_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())


class IpvsPoll:
    """The IPVS table, the totals and lvstop's rates; blocking, called in a thread."""

    def __init__(
        self, reader: IpvsReader | None = None, read_totals: Callable[[], Stats] | None = None
    ) -> None:
        self._reader = reader
        self._read_totals = read_totals
        self.rates = RateTracker(history=1)

    def read(self) -> tuple[IpvsSnapshot, Stats, dict[str, Rates]]:
        if self._reader is None:
            from lvstop.sources.ipvs import IpvsReader

            self._reader = IpvsReader()
        if self._read_totals is None:
            from lvstop.sources.ipvs_totals import read_totals

            self._read_totals = read_totals
        snapshot = self._reader.read()
        totals = self._read_totals()
        return snapshot, totals, dict(self.rates.update(snapshot))

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()


class VrrpPoll:
    """AF_PACKET capture → ``VrrpTracker``; local addresses from netlink events."""

    def __init__(self, interfaces: Sequence[str] | None) -> None:
        self.interfaces = list(interfaces) if interfaces else None
        self._capture: VrrpCapture | None = None
        self._addresses: LocalAddresses | None = None
        self._tracker: VrrpTracker | None = None
        self.bogus: dict[str, int] = {}

    async def start(self) -> None:
        from lvstop.sources.addresses import LocalAddresses
        from lvstop.sources.vrrp_capture import VrrpCapture
        from lvstop.track.vrrp import VrrpTracker

        self._tracker = tracker = VrrpTracker(per_interface=True)
        bogus = self.bogus

        def on_advert(advert: Advert) -> None:
            if not advert.valid:
                check = advert.error or "unknown"
                bogus[check] = bogus.get(check, 0) + 1
            tracker.feed(advert)

        capture = VrrpCapture(self.interfaces, on_advert)
        capture.open()
        self._capture = capture
        capture.start()

        def on_change(addresses: frozenset[str]) -> None:
            tracker.set_local_addresses(addresses, time.time())

        watcher = LocalAddresses(on_change=on_change)
        try:
            await watcher.start()
            self._addresses = watcher
        except LvstopError as exc:  # VIP ownership is a bonus; adverts still count
            print(
                f"lvstop: warning: {exc}; not comparing the wire with this host's addresses",
                file=sys.stderr,
            )

    def snapshot(self) -> VrrpSnapshot:
        assert self._tracker is not None and self._capture is not None, "snapshot before start"
        now = time.time()
        # behind the clock by the capture's batching latency: no advert still in the ring
        # is overtaken (silence is judged on kernel timestamps)
        self._tracker.tick(now - self._capture.latency)
        source = "live: " + (", ".join(self.interfaces) if self.interfaces else "all")
        return self._tracker.snapshot(now, capture=self._capture.stats(), source=source)

    async def close(self) -> None:
        if self._capture is not None:
            self._capture.close()
        if self._addresses is not None:
            await self._addresses.close()


def _table_signature(ipvs: IpvsSnapshot | None, vrrp: VrrpSnapshot | None) -> int:
    """What keepalived's verdicts depend on: the real servers and their weights, and which
    addresses this host holds (a VIP moving is a VRRP transition)."""
    rs = frozenset((r.key, r.weight) for _s, r in ipvs.real_servers()) if ipvs else frozenset()
    local = frozenset(vrrp.local_addresses) if vrrp is not None else frozenset()
    return hash((rs, local))


class KeepalivedPoll:
    """keepalived's processes, config and (when allowed, rarely) state dumps → a view with
    the drift verdicts. Blocking: called in a thread."""

    def __init__(self, *, signals: bool = True, clock: Callable[[], float] = time.time) -> None:
        self.signals = signals
        self.clock = clock
        self._config: KeepalivedConfig | None = None
        self._config_key: tuple[str, float] | None = None
        self._dumped: KeepalivedRuntime | None = None
        self._dumped_pid: int | None = None
        self._dumped_at: float | None = None
        self._signalled_at: float | None = None
        self._signature: int | None = None

    def _want_dumps(self, pid: int, signature: int, now: float) -> bool:
        from lvstop.sources import keepalived_state

        if not self.signals or not keepalived_state.can_signal():
            return False
        if self._signalled_at is not None and now - self._signalled_at < MIN_DUMP_INTERVAL:
            return False
        return self._dumped is None or pid != self._dumped_pid or signature != self._signature

    def read(self, ipvs: IpvsSnapshot | None, vrrp: VrrpSnapshot | None) -> KeepalivedView:
        from lvstop.sources import keepalived_conf, keepalived_state
        from lvstop.track.drift import compute_drift

        procs = keepalived_state.own_netns_processes(keepalived_state.find_processes())
        parent = next((p for p in procs if p.role == "parent"), None)
        if parent is None:
            self._dumped = None
            return KeepalivedView(running=False)
        path = parent.config_path or keepalived_conf.DEFAULT_CONFIG
        rooted = f"/proc/{parent.pid}/root{path if os.path.isabs(path) else '/' + path}"
        path = rooted if os.path.exists(rooted) else path
        key = (path, os.stat(path).st_mtime)
        if key != self._config_key:
            self._config = keepalived_conf.parse_file(path)
            self._config_key = key
        config = self._config
        assert config is not None  # parsed when its key was first seen
        chosen = tuple(p for p in procs if p.pid == parent.pid or p.ppid == parent.pid)
        now = self.clock()
        signature = _table_signature(ipvs, vrrp)
        want = self._want_dumps(parent.pid, signature, now)
        runtime = keepalived_state.read_runtime(
            global_defs=config.global_defs, processes=chosen, request_dumps=want
        )
        if want:
            self._signalled_at = now
            self._signature = signature
            if runtime.instances is not None or runtime.virtual_servers is not None:
                self._dumped, self._dumped_pid, self._dumped_at = runtime, parent.pid, now
        if self._dumped is not None and self._dumped_pid == parent.pid:
            runtime = dataclasses.replace(self._dumped, processes=chosen)
        else:
            self._dumped = None
        wire: dict[tuple[str, int], str] = {}
        local: tuple[str, ...] = ()
        if vrrp is not None:
            wire = {(v.family, v.vrid): v.master for v in vrrp.vrids if v.master is not None}
            local = vrrp.local_addresses
        drift = compute_drift(config, ipvs, runtime, wire, local)
        return KeepalivedView(
            running=True,
            instances=runtime.instances,
            state_time=self._dumped_at if self._dumped is not None else None,
            drift=drift,
        )


class Poller:
    """Polls the sources every ``interval`` seconds and publishes one snapshot per poll."""

    def __init__(
        self,
        published: Published,
        *,
        interval: float = 5.0,
        keepalived_interval: float = 10.0,
        ipvs: IpvsPoll | None = None,
        vrrp: VrrpPoll | None = None,
        keepalived: KeepalivedPoll | None = None,
        clock: Callable[[], float] = time.time,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.published = published
        self.interval = interval
        self.keepalived_interval = keepalived_interval
        self.ipvs = ipvs or IpvsPoll()
        self.vrrp = vrrp
        self.keepalived = keepalived
        self.clock = clock
        self.warn = warn or (lambda text: print(f"lvstop: {text}", file=sys.stderr))
        self._status: dict[str, SourceStatus] = {}
        self._ipvs: tuple[IpvsSnapshot, Stats, dict[str, Rates]] | None = None
        self._vrrp_up = False
        self._keepalived_view: KeepalivedView | None = None
        self._keepalived_task: asyncio.Task[None] | None = None
        self._keepalived_due = 0.0

    def _record(self, name: str, error: str | None, started: float) -> None:
        old = self._status.get(name)
        now = self.clock()
        duration = max(0.0, time.monotonic() - started)
        if error is None:
            if old is not None and not old.up:
                self.warn(f"{name}: back")
            self._status[name] = SourceStatus(name, True, "", now, duration)
        else:
            if old is None or old.error != error:
                self.warn(f"{name}: {error}")
            self._status[name] = SourceStatus(
                name, False, error, None if old is None else old.last_success, duration
            )

    async def start(self) -> None:
        if self.vrrp is not None:
            started = time.monotonic()
            try:
                await self.vrrp.start()
                self._vrrp_up = True
                self._record("vrrp", None, started)
            except Exception as exc:
                self._record("vrrp", _one_line(exc), started)

    async def poll_once(self) -> ExportSnapshot:
        started = time.monotonic()
        try:
            self._ipvs = await asyncio.to_thread(self.ipvs.read)
            self._record("ipvs", None, started)
        except Exception as exc:
            self._ipvs = None
            self._record("ipvs", _one_line(exc), started)
        vrrp_snap = None
        if self.vrrp is not None and self._vrrp_up:
            started = time.monotonic()
            try:
                vrrp_snap = self.vrrp.snapshot()
                self._record("vrrp", None, started)
            except Exception as exc:
                self._record("vrrp", _one_line(exc), started)
        if self.keepalived is not None:
            await self._maybe_keepalived(vrrp_snap)
        snap = self._build(vrrp_snap)
        self.published.publish(snap)
        return snap

    async def _maybe_keepalived(self, vrrp_snap: VrrpSnapshot | None) -> None:
        """Start a keepalived read when one is due and none runs (never two at once); its
        result shows in the first snapshot built after it finished."""
        if self._keepalived_task is not None and not self._keepalived_task.done():
            return
        now = time.monotonic()
        if now < self._keepalived_due:
            return
        self._keepalived_due = now + self.keepalived_interval
        ipvs = self._ipvs[0] if self._ipvs is not None else None
        first = self._keepalived_task is None
        self._keepalived_task = asyncio.create_task(self._read_keepalived(ipvs, vrrp_snap))
        if first:  # the first snapshot already has keepalived's part
            await self._keepalived_task

    async def _read_keepalived(
        self, ipvs: IpvsSnapshot | None, vrrp_snap: VrrpSnapshot | None
    ) -> None:
        assert self.keepalived is not None
        started = time.monotonic()
        try:
            self._keepalived_view = await asyncio.to_thread(self.keepalived.read, ipvs, vrrp_snap)
            self._record("keepalived", None, started)
        except Exception as exc:
            self._keepalived_view = None
            self._record("keepalived", _one_line(exc), started)

    def _build(self, vrrp_snap: VrrpSnapshot | None) -> ExportSnapshot:
        ipvs = self._ipvs
        bogus = tuple(sorted(self.vrrp.bogus.items())) if self.vrrp is not None else ()
        return ExportSnapshot(
            time=self.clock(),
            sources=tuple(
                self._status[name]
                for name in ("ipvs", "vrrp", "keepalived")
                if name in self._status
            ),
            ipvs=None if ipvs is None else ipvs[0],
            totals=None if ipvs is None else ipvs[1],
            rates={} if ipvs is None else ipvs[2],
            vrrp=vrrp_snap,
            bogus_by_check=bogus,
            keepalived=self._keepalived_view,
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set (the first poll is ``poll_once`` before this); the next
        poll starts ``interval`` after the last one started (or at once when a poll took
        longer): never two at once."""
        loop = asyncio.get_running_loop()
        began = loop.time()
        while True:
            wait = max(0.0, self.interval - (loop.time() - began))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
            if stop.is_set():
                return
            began = loop.time()
            await self.poll_once()

    async def close(self) -> None:
        if self._keepalived_task is not None:
            with contextlib.suppress(Exception):
                await self._keepalived_task
        if self.vrrp is not None:
            await self.vrrp.close()
        self.ipvs.close()
