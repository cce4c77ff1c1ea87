"""The real sources for `lvstop top`: netlink IPVS reader, live VRRP capture + tracker, psutil,
/proc/net/ip_vs_conn and the kernel writes of ``lvstop.actions``.

Everything heavy (pyroute2, the capture sockets) is imported or opened inside ``start`` /
the first poll, after the dashboard's first frame.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from lvstop.model.ipvs import ConnEntry, IpvsSnapshot, RealServer, Timeouts
from lvstop.model.vrrp import Advert, VrrpSnapshot
from lvstop.sources.host import HostReader
from lvstop.tui.sources import Actions, ReadOnlyActions, Sources, has_cap_net_admin


class NetlinkIpvs:
    def __init__(self) -> None:
        from lvstop.sources.ipvs import IpvsReader

        self.reader = IpvsReader()

    async def snapshot(self) -> IpvsSnapshot:
        return await self.reader.snapshot()

    async def close(self) -> None:
        self.reader.close()


class LiveVrrp:
    """AF_PACKET capture → ``VrrpTracker``; local addresses from netlink events."""

    def __init__(self, interfaces: Sequence[str] | None) -> None:
        self.interfaces = list(interfaces) if interfaces else None
        self._capture: Any = None
        self._addresses: Any = None
        self._tracker: Any = None

    async def start(self) -> None:
        from lvstop.sources.addresses import LocalAddresses
        from lvstop.sources.vrrp_capture import VrrpCapture
        from lvstop.track.vrrp import VrrpTracker

        self._tracker = tracker = VrrpTracker(per_interface=True)

        def on_advert(advert: Advert) -> None:
            tracker.feed(advert)

        self._capture = VrrpCapture(self.interfaces, on_advert)
        self._capture.open()
        self._capture.start()
        def on_change(addresses: frozenset[str]) -> None:
            tracker.set_local_addresses(addresses, time.time())

        self._addresses = LocalAddresses(on_change=on_change)
        try:
            await self._addresses.start()
        except Exception:  # VIP ownership is a bonus; adverts still count
            self._addresses = None

    async def snapshot(self) -> VrrpSnapshot:
        now = time.time()
        self._tracker.tick(now)
        source = "live: " + (", ".join(self.interfaces) if self.interfaces else "all")
        return self._tracker.snapshot(now, capture=self._capture.stats(), source=source)

    async def close(self) -> None:
        if self._capture is not None:
            self._capture.close()
        if self._addresses is not None:
            await self._addresses.close()


class ProcConns:
    def read(self) -> list[ConnEntry]:
        from lvstop.sources.conns import read_conns

        return read_conns()[0]


class KernelActions:
    """``lvstop.actions`` (validate, write, read back, audit); refused without CAP_NET_ADMIN.

    The drained servers' remembered weights (a small state file) are read once, off the
    loop, and again after each write, not on every poll.
    """

    def __init__(self) -> None:
        self._cap = has_cap_net_admin()
        self._remembered: dict[str, int] = {}
        self._loaded = False

    def refusal(self) -> str | None:
        if not self._cap:
            return "writes need root or CAP_NET_ADMIN (run with sudo, or use --read-only)"
        return None

    def return_weights(self) -> dict[str, int]:
        if not self._loaded:
            self._loaded = True
            import lvstop.actions as actions

            self._remembered = actions.remembered_weights()
        return self._remembered

    async def _after(self, change: Any) -> str:
        import lvstop.actions as actions

        self._remembered = await asyncio.to_thread(actions.remembered_weights)
        return str(change)

    async def drain(self, rs: RealServer) -> str:
        import lvstop.actions as actions

        return await self._after(await actions.drain_async(rs))

    async def restore(self, rs: RealServer) -> str:
        import lvstop.actions as actions

        return await self._after(await actions.restore_async(rs))

    async def set_weight(self, rs: RealServer, weight: int) -> str:
        import lvstop.actions as actions

        return await self._after(await actions.set_weight_async(rs, weight))

    async def set_timeouts(self, timeouts: Timeouts) -> str:
        import lvstop.actions as actions

        return await self._after(await actions.set_timeouts_async(timeouts))


def real_sources(interfaces: Sequence[str] = (), vrrp: bool = True,
                 read_only: bool = False) -> Sources:
    actions: Actions = KernelActions()
    if read_only:
        actions = ReadOnlyActions(inner=actions)
    return Sources(
        ipvs=NetlinkIpvs(),
        host=HostReader(),
        actions=actions,
        vrrp=LiveVrrp(interfaces) if vrrp else None,
        conns=ProcConns(),
    )
