"""The real sources for `lvstop top`: netlink IPVS reader, live VRRP capture + tracker (on a
thread of its own: live_vrrp.py), psutil, /proc/net/ip_vs_conn and the kernel writes of
an ``lvstop.actions.IpvsWriter`` handed in by ``lvstop top``.

Everything heavy (pyroute2, the capture sockets) is imported or opened inside ``start`` /
the first poll, after the dashboard's first frame.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any

from lvstop.actions import Change, IpvsWriter
from lvstop.model.ipvs import ConnEntry, IpvsSnapshot, RealServer, Timeouts
from lvstop.sources.host import HostReader
from lvstop.tui.live_vrrp import LiveVrrp
from lvstop.tui.sources import (
    Actions,
    KeepalivedView,
    ReadOnlyActions,
    Sources,
    has_cap_net_admin,
)

if TYPE_CHECKING:
    from lvstop.model.keepalived import KeepalivedConfig, KeepalivedProcess, KeepalivedRuntime


class NetlinkIpvs:
    def __init__(self) -> None:
        from lvstop.sources.ipvs import IpvsReader

        self.reader = IpvsReader()

    async def snapshot(self, focus: Collection[str] | None = None) -> IpvsSnapshot:
        return await self.reader.snapshot(focus)

    async def close(self) -> None:
        self.reader.close()


class ProcConns:
    def read(self) -> list[ConnEntry]:
        from lvstop.sources.conns import read_conns

        return read_conns()[0]


class KernelActions:
    """The writes of the ``IpvsWriter`` it is given (validate, write, read back, audit), run
    off the loop; refused without CAP_NET_ADMIN.

    The drained servers' remembered weights (a small state file) are read once, off the
    loop, and again after each write, not on every poll.
    """

    def __init__(self, writer: IpvsWriter) -> None:
        self.writer = writer
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
            self._remembered = self.writer.remembered_weights()
        return self._remembered

    async def _write(self, write: Callable[..., Change], *args: Any) -> str:
        change = await asyncio.to_thread(write, *args)
        self._remembered = await asyncio.to_thread(self.writer.remembered_weights)
        return str(change)

    async def drain(self, rs: RealServer) -> str:
        return await self._write(self.writer.drain, rs.key)

    async def restore(self, rs: RealServer) -> str:
        return await self._write(self.writer.restore, rs.key)

    async def set_weight(self, rs: RealServer, weight: int) -> str:
        return await self._write(self.writer.set_weight, rs.key, weight)

    async def set_timeouts(self, timeouts: Timeouts) -> str:
        return await self._write(
            self.writer.set_timeouts, timeouts.tcp, timeouts.tcpfin, timeouts.udp
        )


#: drift verdicts (lvstop.track.drift) as the real servers table's State column says them
VERDICT_TEXT = {
    "ok": "up",
    "adjusted": "up (adj)",
    "removed": "removed",
    "inhibited": "inhibited",
    "changed": "changed",
    "absent": "absent",
    "unknown": "not conf",
}


class KeepalivedDriftStates:
    """keepalived's view of each real server: its config × the kernel, and keepalived's own
    state dumps when ``lvstop.track.ka_dumps.DumpPolicy`` (or the user) asks for them.

    ``no_signals``: why this dashboard must not signal keepalived at all (read-only without
    --keepalived-state, --no-keepalived-state, not root); None: it may.
    ``min_gap``: seconds between two rounds of dumps asked for on its own (0: only by key)."""

    def __init__(
        self,
        no_signals: str | None = None,
        min_gap: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        from lvstop.track.ka_dumps import DumpPolicy

        self.no_signals = no_signals
        self.policy = DumpPolicy(min_gap)
        self._clock = clock
        self._view = KeepalivedView(no_signals=no_signals)
        self._config: KeepalivedConfig | None = None
        self._config_key: tuple[str, float] | None = None
        # the last runtime with a fresh dump, for one parent pid
        self._runtime: KeepalivedRuntime | None = None
        self._runtime_pid: int | None = None

    def view(self) -> KeepalivedView:
        return self._view

    def _load_config(self, parent: KeepalivedProcess) -> KeepalivedConfig:
        import os

        from lvstop.errors import LvstopError
        from lvstop.sources import keepalived_conf

        path = parent.config_path or keepalived_conf.DEFAULT_CONFIG
        rooted = f"/proc/{parent.pid}/root{path if os.path.isabs(path) else '/' + path}"
        path = rooted if os.path.exists(rooted) else path
        try:
            key = (path, os.stat(path).st_mtime)
        except OSError as exc:
            raise LvstopError(f"keepalived's config {path}: {exc.strerror}") from None
        if key != self._config_key:
            self._config = keepalived_conf.parse_file(path)
            self._config_key = key
        config = self._config
        assert config is not None  # parsed when its key was first seen
        return config

    def refresh(self, ipvs: IpvsSnapshot | None, ask: bool = False) -> None:
        from lvstop.sources import keepalived_state
        from lvstop.track.drift import compute_drift
        from lvstop.track.ka_dumps import fingerprint

        procs = keepalived_state.own_netns_processes(keepalived_state.find_processes())
        parent = next((p for p in procs if p.role == "parent"), None)
        if parent is None:
            self._runtime = self._runtime_pid = None
            self._view = KeepalivedView(no_signals=self.no_signals)
            return
        if parent.pid != self._runtime_pid:  # restarted: its old dumps speak for nobody
            self._runtime = None
        config = self._load_config(parent)
        derived = compute_drift(config, ipvs, None)
        fp = fingerprint(derived)
        now = self._clock()
        reason = None
        if self.no_signals is None:
            if ask:
                reason = "asked with the key"
            elif self.policy.observe(fp, now):
                reason = "the kernel table changed"
        problems: list[str] = []
        if reason is not None:
            chosen = tuple(p for p in procs if p.pid == parent.pid or p.ppid == parent.pid)
            runtime = keepalived_state.read_runtime(
                global_defs=config.global_defs, processes=chosen, request_dumps=True
            )
            self.policy.asked(fp, now)
            problems.extend(runtime.problems)
            if runtime.virtual_servers is not None or runtime.instances is not None:
                self._runtime, self._runtime_pid = runtime, parent.pid
        told = compute_drift(config, ipvs, self._runtime) if self._runtime else derived
        states: dict[str, str] = {}
        details: dict[str, str] = {}
        warnings: dict[str, str] = {}
        for vs in derived.virtual_servers:
            for rs in vs.real_servers:
                best = told.real_server(rs.key) if self.policy.current(rs.key, fp) else None
                pick = best or rs
                states[rs.key] = VERDICT_TEXT.get(pick.verdict, pick.verdict)
                details[rs.key] = pick.detail
                warning = derived.drain_warning(rs.key)
                if warning:
                    warnings[rs.key] = warning
        self._view = KeepalivedView(
            states=states,
            details=details,
            warnings=warnings,
            running=True,
            dumped_at=self._runtime.taken_at if self._runtime else None,
            no_signals=self.no_signals,
            pending=self.policy.pending,
            asked=reason,
            problems=tuple(problems),
        )


def real_sources(
    writer: IpvsWriter,
    interfaces: Sequence[str] = (),
    vrrp: bool = True,
    read_only: bool = False,
    keepalived_no_signals: str | None = None,
    keepalived_min_gap: float = 60.0,
) -> Sources:
    """The dashboard's sources; ``writer`` makes its kernel writes (the caller's, so its audit
    log and state file are the caller's choice)."""
    actions: Actions = KernelActions(writer)
    if read_only:
        actions = ReadOnlyActions(inner=actions)
    return Sources(
        ipvs=NetlinkIpvs(),
        host=HostReader(),
        actions=actions,
        vrrp=LiveVrrp(interfaces) if vrrp else None,
        conns=ProcConns(),
        keepalived=KeepalivedDriftStates(keepalived_no_signals, keepalived_min_gap),
    )
