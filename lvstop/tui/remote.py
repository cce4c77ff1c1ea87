"""The dashboard's sources over one director's agent (``lvstop top --via [USER@]HOST``, and
Enter → ``f`` in the fleet): IPVS, host figures and the writes come from the agent's
``lvstop.agent/1`` state and requests, so the full dashboard runs on a laptop with no IPVS.

Not over the agent (yet): the VRRP panel (the agent sends the fleet's per-VRID summary, not
the adverts' timing the panel shows; the fleet's VRID matrix has it), keepalived's verdict per
real server, and the connection table. No Textual here.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Collection
from typing import Any

from lvstop.errors import LvstopError
from lvstop.fleet.client import AgentClient
from lvstop.fleet.model import ipvs_from_state
from lvstop.model.host import HostStats, KeepalivedPids
from lvstop.model.ipvs import IpvsSnapshot, RealServer, Timeouts
from lvstop.tui.sources import Sources

#: seconds the first snapshot may take (ssh, the push of the agent file, its first poll)
CONNECT_WAIT = 90.0


class AgentLink:
    """The one AgentClient the sources share, started on the App's loop at the first poll."""

    def __init__(self, client: AgentClient) -> None:
        self.client = client
        self._task: asyncio.Task[None] | None = None

    async def live(self) -> AgentClient:
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


def agent_sources(client: AgentClient) -> Sources:
    link = AgentLink(client)
    return Sources(ipvs=AgentIpvs(link), host=AgentHost(link), actions=AgentActions(link))
