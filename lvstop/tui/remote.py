"""The dashboard's sources over one director's agent (``lvstop top --via [USER@]HOST``, and
Enter → ``f`` in the fleet): IPVS, host figures, the VRRP panel (the tracker on that
director's wire), keepalived's verdict per real server, the connection table and the writes
come from the agent's ``lvstop.agent/1`` state and requests, so the full dashboard runs on a
laptop with no IPVS. The sources the App calls in a thread (keepalived's verdicts, the
connection table) hand their request to the loop the agent's connection lives on.
No Textual here.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Collection
from typing import Any

from lvstop.agent.protocol import MAX_CONNS
from lvstop.errors import LvstopError
from lvstop.fleet.client import AgentClient
from lvstop.fleet.model import ipvs_from_state
from lvstop.model.host import HostStats, KeepalivedPids
from lvstop.model.ipvs import ConnEntry, IpvsSnapshot, RealServer, Timeouts, parse_endpoint
from lvstop.model.vrrp import VrrpSnapshot
from lvstop.tui.sources import KeepalivedView, Sources

#: seconds the first snapshot may take (ssh, the push of the agent file, its first poll)
CONNECT_WAIT = 90.0
#: seconds a request made from one of the App's threads may take
THREAD_WAIT = 30.0


class AgentLink:
    """The one AgentClient the sources share, started on the App's loop at the first poll."""

    def __init__(self, client: AgentClient) -> None:
        self.client = client
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def live(self) -> AgentClient:
        self._loop = asyncio.get_running_loop()
        if self._task is None:
            self._task = asyncio.create_task(self.client.run())
        deadline = time.monotonic() + CONNECT_WAIT
        while self.client.status != "live" or self.client.state is None:
            if self.client.status == "down" or time.monotonic() > deadline:
                raise LvstopError(
                    f"{self.client.name}: {self.client.reason or 'no answer from its agent'}"
                )
            await asyncio.sleep(0.1)
        return self.client

    async def ask(self, op: str, **args: Any) -> dict[str, Any]:
        client = await self.live()
        return await client.request(op, **args)

    def ask_from_thread(self, op: str, **args: Any) -> dict[str, Any]:
        """``ask`` from a thread of the App (never from the loop: it would wait on itself)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            raise OSError(f"{self.client.name}: not connected yet")
        future = asyncio.run_coroutine_threadsafe(self.ask(op, **args), loop)
        try:
            return future.result(THREAD_WAIT)
        except TimeoutError:
            future.cancel()
            raise OSError(f"{self.client.name}: no answer to {op} in {THREAD_WAIT:.0f} s") from None

    async def close(self) -> None:
        await self.client.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


class AgentIpvs:
    def __init__(self, link: AgentLink) -> None:
        self.link = link

    async def snapshot(self, focus: Collection[str] | None = None) -> IpvsSnapshot:
        # the agent keeps every real server current and sends what changed: no focus needed
        client = await self.link.live()
        assert client.state is not None
        error = client.state["ipvs"].get("error")
        if error:
            raise LvstopError(f"{client.name}: {error}")
        snap = ipvs_from_state(client.state, time.time())
        # rates come from counter deltas over the App's own clock
        return IpvsSnapshot(
            snap.services,
            snap.timeouts,
            snap.daemons,
            taken_at=time.monotonic(),
            wall_time=time.time(),
            service_stats=snap.service_stats,
        )

    async def close(self) -> None:
        await self.link.close()


class AgentHost:
    def __init__(self, link: AgentLink) -> None:
        self.link = link

    def read(self) -> HostStats:
        client = self.link.client
        state = client.state
        if state is None:
            raise OSError(f"{client.name}: not connected")
        stats = state["host"].get("stats") or {}
        ka = state["keepalived"].get("status") or {}
        load = tuple(float(x) for x in stats.get("load") or (0.0, 0.0, 0.0))
        return HostStats(
            time=time.time(),
            hostname=str(client.hello.get("host", client.name)),
            cpu_percent=float(stats.get("cpu_percent") or 0.0),
            load=(load[0], load[1], load[2]) if len(load) == 3 else (0.0, 0.0, 0.0),
            mem_percent=float(stats.get("memory_percent") or 0.0),
            mem_used=0,
            mem_total=0,
            keepalived=KeepalivedPids(
                (int(ka["pid"]),) if ka.get("pid") else (),
                None if ka.get("started") is None else float(ka["started"]),
            ),
        )


class AgentActions:
    """Writes as requests to the agent: its lvstop.actions validates, writes, reads back and
    audits on the director."""

    def __init__(self, link: AgentLink) -> None:
        self.link = link

    def refusal(self) -> str | None:
        client = self.link.client
        if client.status != "live":
            return f"{client.name} is not connected ({client.reason or client.status})"
        if "write" not in client.hello.get("capabilities", ()):
            return f"the agent on {client.name} refuses writes (read-only)"
        return None

    def return_weights(self) -> dict[str, int]:
        state = self.link.client.state
        return {} if state is None else {k: int(v) for k, v in state["drained"].items()}

    async def _ask(self, op: str, **args: Any) -> str:
        client = await self.link.live()
        result = await client.request(op, **args)
        return str(result.get("message", "done"))

    async def drain(self, rs: RealServer) -> str:
        return await self._ask("drain", rs=rs.key)

    async def restore(self, rs: RealServer) -> str:
        return await self._ask("restore", rs=rs.key)

    async def set_weight(self, rs: RealServer, weight: int) -> str:
        return await self._ask("weight", rs=rs.key, weight=weight)

    async def set_timeouts(self, timeouts: Timeouts) -> str:
        return await self._ask(
            "timeouts", tcp=timeouts.tcp, tcpfin=timeouts.tcpfin, udp=timeouts.udp
        )


class AgentVrrp:
    """The VRRP panel from the tracker of the agent's own capture (the ``vrrp`` request)."""

    def __init__(self, link: AgentLink) -> None:
        self.link = link
        #: the time of the newest event received (the next request asks only for later ones)
        self._events_after: float | None = None

    async def start(self) -> None:
        return None  # the capture runs on the director, started with its agent

    async def snapshot(self) -> VrrpSnapshot:
        client = await self.link.live()
        if "vrrp" not in client.hello.get("capabilities", ()):
            problems = [str(p) for p in client.hello.get("problems") or ()]
            raise LvstopError(
                f"{client.name}: its agent captures no VRRP"
                + (f" ({problems[0]})" if problems else " (--no-vrrp)")
            )
        after = self._events_after
        result = await client.request("vrrp", **({} if after is None else {"events_after": after}))
        try:
            snap = VrrpSnapshot.from_dict(result["snapshot"])
        except (KeyError, TypeError, ValueError) as exc:
            raise LvstopError(
                f"{client.name}: a VRRP snapshot lvstop cannot read ({exc})"
            ) from None
        if snap.events:
            self._events_after = max(e.time for e in snap.events)
        return snap

    async def close(self) -> None:
        return None  # the link is closed by the IPVS source


def verdict_text(verdict: str) -> str:
    from lvstop.tui.real import VERDICT_TEXT

    return VERDICT_TEXT.get(verdict, verdict)


class AgentKeepalived:
    """keepalived's verdict per real server, computed by the agent on the director (its
    config, its kernel table, keepalived's dumps; the ``keepalived`` request). The agent
    signals keepalived only when asked (`K`) or when the kernel table changed, like the
    local dashboard, and never when it may not (not root, --no-keepalived-state)."""

    def __init__(self, link: AgentLink) -> None:
        self.link = link
        self._view = KeepalivedView()

    def view(self) -> KeepalivedView:
        return self._view

    def refresh(self, ipvs: IpvsSnapshot | None, ask: bool = False) -> None:
        client = self.link.client
        if client.hello and "verdicts" not in client.hello.get("capabilities", ()):
            self._view = KeepalivedView(
                no_signals=f"the agent on {client.name} (lvstop "
                f"{str(client.hello.get('lvstop'))[:20]}) gives no verdicts",
                watched=False,
            )
            return
        result = self.link.ask_from_thread("keepalived", ask=ask)
        self._view = keepalived_view(result)


def keepalived_view(result: dict[str, Any]) -> KeepalivedView:
    """A ``keepalived`` result → the view the real servers table shows (ValueError: malformed)."""
    states: dict[str, str] = {}
    details: dict[str, str] = {}
    warnings: dict[str, str] = {}
    verdicts = result.get("verdicts", {})
    if not isinstance(verdicts, dict):
        raise ValueError("keepalived: verdicts must be an object")
    for key, value in verdicts.items():
        if not isinstance(value, list) or len(value) != 3:
            raise ValueError(f"keepalived: a verdict of {str(key)[:80]} lvstop cannot read")
        verdict, detail, warning = value
        states[str(key)] = verdict_text(str(verdict))
        details[str(key)] = str(detail)
        if warning:
            warnings[str(key)] = str(warning)
    dumped = result.get("dumped_at")
    asked = result.get("asked")
    no_signals = result.get("no_signals")
    return KeepalivedView(
        states=states,
        details=details,
        warnings=warnings,
        running=bool(result.get("running")),
        dumped_at=None if dumped is None else float(dumped),
        no_signals=None if no_signals is None else str(no_signals),
        pending=bool(result.get("pending")),
        asked=None if asked is None else str(asked),
        problems=tuple(str(p) for p in result.get("problems") or ()),
    )


class AgentConns:
    """The connection table of the director (the ``conns`` request: its first
    ``MAX_CONNS`` entries)."""

    def __init__(self, link: AgentLink) -> None:
        self.link = link

    def read(self) -> list[ConnEntry]:
        result = self.link.ask_from_thread("conns", limit=MAX_CONNS)
        return [conn_entry(e) for e in result.get("conns") or ()]


def conn_entry(data: dict[str, Any]) -> ConnEntry:
    """One entry of a ``conns`` result (ValueError when malformed)."""
    client = parse_endpoint(str(data["client"]))
    virtual = parse_endpoint(str(data["virtual"]))
    real = parse_endpoint(str(data["real"]))
    return ConnEntry(
        protocol=str(data["protocol"]),
        client_address=client[0],
        client_port=client[1],
        virtual_address=virtual[0],
        virtual_port=virtual[1],
        real_address=real[0],
        real_port=real[1],
        state=str(data["state"]),
        expires=int(data["expires"]),
    )


def agent_sources(client: AgentClient, vrrp: bool = True) -> Sources:
    link = AgentLink(client)
    return Sources(
        ipvs=AgentIpvs(link),
        host=AgentHost(link),
        actions=AgentActions(link),
        vrrp=AgentVrrp(link) if vrrp else None,
        conns=AgentConns(link),
        keepalived=AgentKeepalived(link),
    )
