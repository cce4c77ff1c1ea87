"""The dashboard's live VRRP source: the AF_PACKET capture and the tracker on a thread of their
own, so that a flood of adverts (one host on the segment can send thousands a second, from as
many spoofed addresses) costs that thread, never the UI loop.

The thread waits on the capture's sockets (and a wake-up pipe), decodes each ready batch and
feeds the tracker under a lock; the address watcher's changes are handed over to it. The App's
poll asks for a snapshot through ``asyncio.to_thread``: it ticks the tracker and copies its
state under the same lock, off the loop too. An error on the thread surfaces at the next
snapshot (the App's one place for source errors shows it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from lvstop.model.vrrp import Advert, VrrpSnapshot
from lvstop.tui.incident import AdvertRing

if TYPE_CHECKING:  # imported in start(): the dashboard draws before the capture opens
    from lvstop.sources.addresses import LocalAddresses
    from lvstop.sources.vrrp_capture import VrrpCapture
    from lvstop.track.vrrp import VrrpTracker

#: Seconds the thread sleeps at most without packets (to notice ``close``).
IDLE_WAIT = 1.0


class LiveVrrp:
    """AF_PACKET capture → ``VrrpTracker`` on the ``lvstop-vrrp`` thread; local addresses from
    netlink events (the loop) handed to it."""

    def __init__(self, interfaces: Sequence[str] | None) -> None:
        self.interfaces = list(interfaces) if interfaces else None
        self._capture: VrrpCapture | None = None
        self._addresses: LocalAddresses | None = None
        self._tracker: VrrpTracker | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._wake: tuple[int, int] | None = None
        self._pending: tuple[frozenset[str], float] | None = None
        self._error: BaseException | None = None
        #: the thread that fed the tracker last (tests check it is not the loop's)
        self.feeder: int | None = None
        #: recent packets as captured, for the incident snapshot's pcap
        self.adverts = AdvertRing()

    async def start(self) -> None:
        from lvstop.sources.addresses import LocalAddresses
        from lvstop.sources.vrrp_capture import VrrpCapture
        from lvstop.track.vrrp import VrrpTracker

        if self._capture is not None or self._addresses is not None:
            await self.close()  # started again after an error: the old thread and sockets go
        self._stop.clear()
        self._error = None
        self._tracker = tracker = VrrpTracker(per_interface=True)

        def on_advert(advert: Advert) -> None:
            tracker.feed(advert)

        self._capture = VrrpCapture(self.interfaces, on_advert, on_raw=self.adverts.add_raw)
        self._capture.open()
        self._wake = os.pipe()
        os.set_blocking(self._wake[0], False)
        os.set_blocking(self._wake[1], False)
        self._thread = threading.Thread(target=self._run, name="lvstop-vrrp", daemon=True)
        self._thread.start()

        def on_change(addresses: frozenset[str]) -> None:
            self._pending = (addresses, time.time())
            self._poke()

        self._addresses = LocalAddresses(on_change=on_change)
        try:
            await self._addresses.start()
        except Exception:  # VIP ownership is a bonus; adverts still count
            self._addresses = None

    def _poke(self) -> None:
        if self._wake is not None:
            # a full pipe: a wake-up is pending already
            with contextlib.suppress(OSError):
                os.write(self._wake[1], b"\0")

    def _run(self) -> None:
        assert self._wake is not None and self._capture is not None and self._tracker is not None
        capture, tracker = self._capture, self._tracker  # set before the thread starts
        poller = select.poll()
        for fd in (*capture.filenos(), self._wake[0]):
            poller.register(fd, select.POLLIN)
        try:
            while not self._stop.is_set():
                poller.poll(IDLE_WAIT * 1000)
                with contextlib.suppress(BlockingIOError):
                    os.read(self._wake[0], 4096)
                if self._stop.is_set():
                    break
                with self._lock:
                    self.feeder = threading.get_ident()
                    capture.drain()
                    pending, self._pending = self._pending, None
                    if pending is not None:
                        tracker.set_local_addresses(*pending)
        except BaseException as exc:  # shown by the next snapshot
            self._error = exc

    def _snapshot(self) -> VrrpSnapshot:
        if self._error is not None:
            raise self._error
        now = time.time()
        source = "live: " + (", ".join(self.interfaces) if self.interfaces else "all")
        with self._lock:
            if self._capture is None or self._tracker is None:
                raise OSError("the VRRP capture is closed")
            self._tracker.tick(now)
            return self._tracker.snapshot(now, capture=self._capture.stats(), source=source)

    async def snapshot(self) -> VrrpSnapshot:
        return await asyncio.to_thread(self._snapshot)

    async def close(self) -> None:
        self._stop.set()
        self._poke()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
            self._thread = None
        with self._lock:  # not while a snapshot reads the capture's counters
            if self._capture is not None:
                self._capture.close()
                self._capture = None
        if self._wake is not None:
            for fd in self._wake:
                os.close(fd)
            self._wake = None
        if self._addresses is not None:
            await self._addresses.close()
            self._addresses = None
