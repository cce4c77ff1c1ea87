"""The real sources for `lvstop top`: netlink IPVS reader, live VRRP capture + tracker (on a
thread of its own: live_vrrp.py), psutil, /proc/net/ip_vs_conn and the kernel writes of
``lvstop.actions``.

Everything heavy (pyroute2, the capture sockets) is imported or opened inside ``start`` /
the first poll, after the dashboard's first frame.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from lvstop.model.ipvs import ConnEntry, IpvsSnapshot, RealServer, Timeouts
from lvstop.sources.host import HostReader
from lvstop.tui.live_vrrp import LiveVrrp
from lvstop.tui.sources import Actions, ReadOnlyActions, Sources, has_cap_net_admin


class NetlinkIpvs:
    def __init__(self) -> None:
        from lvstop.sources.ipvs import IpvsReader

        self.reader = IpvsReader()

    async def snapshot(self) -> IpvsSnapshot:
        return await self.reader.snapshot()

    async def close(self) -> None:
        self.reader.close()


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


#: drift verdicts (lvstop.track.drift) as the real servers table's State column says them
VERDICT_TEXT = {"ok": "up", "adjusted": "up (adj)", "removed": "removed", "inhibited":
                "inhibited", "changed": "changed", "absent": "absent", "unknown": "not conf"}


class KeepalivedDriftStates:
    """keepalived's view of each real server: its config × its own state dumps × the kernel
    (``lvstop.track.drift``). Refreshed in a thread every few seconds, never per poll (it
    signals keepalived for its dumps when allowed)."""

    def __init__(self) -> None:
        self._states: dict[str, str] = {}
        self._config: Any = None
        self._config_key: tuple[str, float] | None = None

    def states(self) -> dict[str, str]:
        return self._states

    def refresh(self, ipvs: IpvsSnapshot | None) -> None:
        import os

        from lvstop.sources import keepalived_conf, keepalived_state
        from lvstop.track.drift import compute_drift

        procs = keepalived_state.own_netns_processes(keepalived_state.find_processes())
        parent = next((p for p in procs if p.role == "parent"), None)
        if parent is None:
            self._states = {}
            return
        path = parent.config_path or keepalived_conf.DEFAULT_CONFIG
        rooted = f"/proc/{parent.pid}/root{path if os.path.isabs(path) else '/' + path}"
        path = rooted if os.path.exists(rooted) else path
        key = (path, os.stat(path).st_mtime)
        if key != self._config_key:
            self._config = keepalived_conf.parse_file(path)
            self._config_key = key
        chosen = tuple(p for p in procs if p.pid == parent.pid or p.ppid == parent.pid)
        runtime = keepalived_state.read_runtime(
            global_defs=self._config.global_defs, processes=chosen,
            request_dumps=keepalived_state.can_signal())
        drift = compute_drift(self._config, ipvs, runtime)
        self._states = {rs.key: VERDICT_TEXT.get(rs.verdict, rs.verdict)
                        for vs in drift.virtual_servers for rs in vs.real_servers}


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
        keepalived=KeepalivedDriftStates(),
    )
