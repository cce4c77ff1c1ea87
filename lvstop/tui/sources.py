"""What the dashboard reads and writes through, as protocols; the App gets these passed in.

The real implementations wrap ``lvstop.sources.*`` and ``lvstop.actions`` (imported lazily, so
the first frame does not wait for pyroute2 or scapy); ``lvstop.tui.replay`` has fakes that
replay data recorded in the lab. Nothing here imports Textual.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from lvstop.model.host import HostStats
from lvstop.model.ipvs import ConnEntry, IpvsSnapshot, RealServer, Timeouts
from lvstop.model.vrrp import VrrpSnapshot


@runtime_checkable
class IpvsSource(Protocol):
    async def snapshot(self, focus: Collection[str] | None = None) -> IpvsSnapshot:
        """One consistent dump of services, real servers, stats and timeouts. ``focus``: the
        services whose real servers must be read now (those on the screen); the others' may
        be those an earlier poll read (``IpvsSnapshot.real_servers_read``). None: all."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class VrrpSource(Protocol):
    async def start(self) -> None:
        """Begin capturing (heavy imports happen here, after the first frame)."""
        ...

    async def snapshot(self) -> VrrpSnapshot:
        """The tracker's state now; its ``events`` are the recent ones, oldest first."""
        ...

    async def close(self) -> None: ...


class HostSource(Protocol):
    def read(self) -> HostStats:
        """Synchronous (psutil); the App calls it off the event loop."""
        ...


class ConnsSource(Protocol):
    def read(self) -> list[ConnEntry]:
        """The connection table; synchronous and possibly slow: called in a thread."""
        ...


@dataclass(frozen=True)
class KeepalivedView:
    """What the dashboard shows of keepalived: per real server key its verdict (the State
    column's text), the sentence behind it and the warning a hand-made weight change gets;
    how old keepalived's own view is and why lvstop may not ask it."""

    states: Mapping[str, str] = field(default_factory=dict)
    details: Mapping[str, str] = field(default_factory=dict)
    warnings: Mapping[str, str] = field(default_factory=dict)
    running: bool = False
    #: when keepalived wrote the dumps the verdicts use (None: derived from config × kernel)
    dumped_at: float | None = None
    #: why lvstop sends keepalived no signal (read-only, --no-keepalived-state, not root)
    no_signals: str | None = None
    #: the kernel changed since the last dump; a round is due (now, or when the gap allows)
    pending: bool = False
    #: this refresh signalled keepalived, and why ("the kernel table changed", "asked")
    asked: str | None = None
    problems: tuple[str, ...] = ()
    #: False: no keepalived source at all (replayed data): nothing to say about it
    watched: bool = True


class KeepalivedStates(Protocol):
    def view(self) -> KeepalivedView:
        """The latest view (cheap: no I/O)."""
        ...

    def refresh(self, ipvs: IpvsSnapshot | None, ask: bool = False) -> None:
        """Read keepalived again (its processes, its config) against ``ipvs``; blocking,
        called in a thread. Signals keepalived for its dumps only when its policy says so
        (``lvstop.track.ka_dumps``) or ``ask`` (the user's key), and only if allowed."""
        ...


class Actions(Protocol):
    """The kernel writes. Each returns a one-line result or raises with the kernel's reason."""

    def refusal(self) -> str | None:
        """Why writes are impossible right now (no CAP_NET_ADMIN, read-only), or None."""
        ...

    def return_weights(self) -> dict[str, int]:
        """Weights remembered for drained real servers, by real server key."""
        ...

    async def drain(self, rs: RealServer) -> str: ...

    async def restore(self, rs: RealServer) -> str: ...

    async def set_weight(self, rs: RealServer, weight: int) -> str: ...

    async def set_timeouts(self, timeouts: Timeouts) -> str: ...


CAP_NET_ADMIN = 12


def has_cap_net_admin(status_path: str = "/proc/self/status") -> bool:
    """Whether this process has CAP_NET_ADMIN in its effective set."""
    try:
        with open(status_path, encoding="ascii") as handle:
            for line in handle:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> CAP_NET_ADMIN & 1)
    except (OSError, ValueError):
        return False
    return False


class ReadOnlyActions:
    """Every write refused with one reason (``--read-only``)."""

    def __init__(
        self,
        reason: str = "read-only mode (--read-only): writes are off",
        inner: Actions | None = None,
    ) -> None:
        self.reason = reason
        self._inner = inner

    def refusal(self) -> str | None:
        return self.reason

    def return_weights(self) -> dict[str, int]:
        return self._inner.return_weights() if self._inner else {}

    async def drain(self, rs: RealServer) -> str:
        raise PermissionError(self.reason)

    async def restore(self, rs: RealServer) -> str:
        raise PermissionError(self.reason)

    async def set_weight(self, rs: RealServer, weight: int) -> str:
        raise PermissionError(self.reason)

    async def set_timeouts(self, timeouts: Timeouts) -> str:
        raise PermissionError(self.reason)


class NoStates:
    def view(self) -> KeepalivedView:
        return KeepalivedView(watched=False)

    def refresh(self, ipvs: IpvsSnapshot | None, ask: bool = False) -> None:
        return None


@dataclass
class Sources:
    """Everything the App reads and writes through (passed into ``LvstopApp``)."""

    ipvs: IpvsSource
    host: HostSource
    actions: Actions
    vrrp: VrrpSource | None = None
    conns: ConnsSource | None = None
    keepalived: KeepalivedStates = field(default_factory=NoStates)
    clock: Callable[[], float] = time.time
