"""Which addresses (and so which VIPs) this host holds, kept current from netlink address
events (RTM_NEWADDR / RTM_DELADDR), not polled. pyroute2 is imported lazily: it is slow to
import and only the live path needs it.

Usage::

    watcher = LocalAddresses(on_change=lambda addrs: tracker.set_local_addresses(addrs, now()))
    await watcher.start()     # subscribes first, then dumps: no change slips between the two
    ...
    await watcher.close()
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lvstop.errors import LvstopError


@dataclass(frozen=True, slots=True)
class LocalAddress:
    address: str
    prefixlen: int
    ifindex: int
    family: str  # "inet" | "inet6"


def _from_message(msg: Any) -> LocalAddress | None:
    # IFA_LOCAL is the address of the interface; IFA_ADDRESS is the peer on point-to-point
    # links and equal to IFA_LOCAL otherwise. IPv6 sends IFA_ADDRESS only.
    address = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
    if not address:
        return None
    family = "inet6" if msg.get("family") == 10 else "inet"
    return LocalAddress(address, int(msg.get("prefixlen", 0)), int(msg.get("index", 0)), family)


class LocalAddresses:
    """The set of local addresses, updated by netlink events; ``on_change`` gets the whole set
    (a frozenset of address strings) after every change."""

    def __init__(self, on_change: Callable[[frozenset[str]], None] | None = None) -> None:
        self.on_change = on_change
        self._entries: dict[tuple[str, int], LocalAddress] = {}
        self._events: Any = None
        self._task: asyncio.Task[None] | None = None
        self.error: str | None = None

    @property
    def addresses(self) -> frozenset[str]:
        return frozenset(addr for addr, _ in self._entries)

    def entries(self) -> tuple[LocalAddress, ...]:
        return tuple(self._entries.values())

    def apply(self, msg: Any) -> bool:
        """Apply one RTM_NEWADDR/RTM_DELADDR message; True when the set changed."""
        entry = _from_message(msg)
        if entry is None:
            return False
        key = (entry.address, entry.ifindex)
        before = self.addresses
        if msg.get("event") == "RTM_DELADDR":
            self._entries.pop(key, None)
        else:
            self._entries[key] = entry
        return self.addresses != before

    async def start(self) -> None:
        try:
            from pyroute2 import AsyncIPRoute
            from pyroute2.netlink.rtnl import RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR
        except ImportError as exc:  # pragma: no cover - pyroute2 is a dependency
            raise LvstopError(f"pyroute2 is needed to watch local addresses: {exc}") from None
        try:
            self._events = AsyncIPRoute()
            await self._events.bind(groups=RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR)
            async with AsyncIPRoute() as ipr:
                async for msg in await ipr.addr("dump"):
                    self.apply(msg)
        except OSError as exc:
            await self.close()
            raise LvstopError(f"cannot read local addresses: {exc.strerror or exc}") from None
        self._notify()
        self._task = asyncio.create_task(self._run(), name="lvstop-addresses")

    def _notify(self) -> None:
        if self.on_change is not None:
            self.on_change(self.addresses)

    async def _run(self) -> None:
        try:
            while True:
                changed = False
                async for msg in self._events.get():
                    changed = self.apply(msg) or changed
                if changed:
                    self._notify()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # keep the app alive; the front end shows ``error``
            self.error = f"address events stopped: {exc}"

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._events is not None:
            with contextlib.suppress(Exception):
                self._events.close()
            self._events = None
