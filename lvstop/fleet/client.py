"""One director's agent over the user's own ssh: connect, keep its state, ask it for writes.

``AgentClient.run()`` is a plain asyncio task (no Textual): it starts ``ssh`` (an argv list,
``BatchMode=yes``: lvstop never handles keys or passwords; the user's ~/.ssh/config, agent,
ProxyJump and ControlMaster apply), which runs the bootstrap of ``lvstop.agent.bundle`` on the
director; the bootstrap asks for the agent file when its cache lacks it. Then it reads the
``lvstop.agent/1`` lines, applies each update to its copy of the state and calls
``on_change``. When the connection ends (ssh's or sudo's refusal, python too old, the
director went away, or no line for ``SILENCE`` seconds) the director is shown down with the
reason and tried again after a backoff (1, 2, 4 … 30 s). One hanging director costs only
its own task.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lvstop.agent.protocol import (
    HEARTBEAT,
    SCHEMA,
    State,
    apply_update,
    load_state,
)
from lvstop.errors import LvstopError
from lvstop.fleet.model import CONNECTING, DOWN, LIVE, Director, director_view

#: seconds without a line from a live agent before it counts as hung (ticks come every 10 s)
SILENCE = HEARTBEAT * 3
BACKOFF = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
#: the longest line read from an agent (a snapshot of thousands of real servers fits)
MAX_LINE = 64 << 20

#: what a host may look like: [USER@]HOST, with HOST a name, an IPv4 or an [IPv6] address
_TARGET = re.compile(
    r"^(?:[A-Za-z0-9._-]+@)?(?:[A-Za-z0-9][A-Za-z0-9._-]*|\[[0-9A-Fa-f:.]+\]"
    r"|[0-9A-Fa-f:]+:[0-9A-Fa-f:.]*)$"
)


class FleetError(LvstopError):
    """A request to a director failed (it said why, or the connection did)."""


@dataclass(frozen=True, slots=True)
class Target:
    """One director as the user named it; ``destination`` None: this machine."""

    name: str
    destination: str | None


def parse_target(text: str) -> Target:
    """``[USER@]HOST`` or ``local``; a name ssh could take for an option is refused."""
    if text == "local":
        return Target("local", None)
    if not text or text.startswith("-") or not _TARGET.match(text) or len(text) > 255:
        raise LvstopError(
            f"--host {json.dumps(text)}: not [USER@]HOST (a host name, an IPv4 "
            "address or an [IPv6] address) or local"
        )
    user, at, host = text.rpartition("@")
    if host.startswith("["):  # ssh takes USER@ADDRESS of an IPv6 address without brackets
        host = host[1:-1]
    return Target(text, f"{user}{at}{host}")


@dataclass(frozen=True, slots=True)
class ConnectOptions:
    interval: float = 1.0
    #: run the agent with ``sudo -n`` on the director
    sudo: bool = False
    #: "push" (the agent file, cached by hash) or "installed" (the director's lvstop when it
    #: has one, else push)
    agent: str = "installed"
    ssh: str = "ssh"
    ssh_options: tuple[str, ...] = ()
    iface: tuple[str, ...] = ()
    vrrp: bool = True
    read_only: bool = False
    connect_timeout: int = 10

    def agent_args(self) -> list[str]:
        args = ["--interval", f"{self.interval:g}"]
        for name in self.iface:
            args += ["--iface", name]
        if not self.vrrp:
            args.append("--no-vrrp")
        if self.read_only:
            args.append("--read-only")
        return args


def command(target: Target, options: ConnectOptions) -> tuple[list[str], bytes | None]:
    """The argv that starts the agent, and the agent file's bytes when it may be asked for."""
    if target.destination is None:
        argv = [sys.executable, "-m", "lvstop", "agent", *options.agent_args()]
        if options.sudo and os.geteuid() != 0:
            argv = ["sudo", "-n", *argv]
        return argv, None
    from lvstop.agent.bundle import bootstrap_command, bundle

    b = bundle()
    mode = ("installed-" if options.agent == "installed" else "") + (
        "sudo-push" if options.sudo else "push"
    )
    argv = [
        options.ssh,
        "-o",
        "BatchMode=yes",
        "-o",
        "ServerAliveInterval=5",
        "-o",
        "ServerAliveCountMax=3",
        "-o",
        f"ConnectTimeout={options.connect_timeout}",
        *options.ssh_options,
        "--",
        target.destination,
        *bootstrap_command(b, mode, options.agent_args()),
    ]
    return argv, b.data


class AgentClient:
    def __init__(
        self,
        target: Target,
        options: ConnectOptions,
        on_change: Callable[[AgentClient], None] | None = None,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.target = target
        self.options = options
        self.on_change = on_change
        self.on_event = on_event
        self.clock = clock
        self.status = CONNECTING
        self.reason = ""
        self.since = clock()
        self.retry_at: float | None = None
        self.hello: dict[str, Any] = {}
        self.state: State | None = None
        self.bytes_in = 0
        #: bytes received per message type (the figures of the quiet-director measure)
        self.bytes_by_type: dict[str, int] = {}
        #: how many updates changed each section (what a quiet director still sends)
        self.updates_by_section: dict[str, int] = {}
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._proc: asyncio.subprocess.Process | None = None
        self._wake = asyncio.Event()
        self._closing = False
        self._stderr: deque[str] = deque(maxlen=5)
        self._samples: deque[tuple[float, int]] = deque(maxlen=2)
        self._changed_at: float | None = None
        self._updated_at: float | None = None
        self.attempts = 0

    @property
    def name(self) -> str:
        return self.target.name

    # -- the view --------------------------------------------------------------------------

    def view(self) -> Director:
        now = self.clock()
        retry = None if self.retry_at is None else max(0.0, self.retry_at - now)
        if self.status != LIVE or self.state is None:
            return Director(
                name=self.name,
                status=self.status,
                reason=self.reason,
                since=self.since,
                retry_in=retry,
                bytes_in=self.bytes_in,
                host=str(self.hello.get("host", "")),
            )
        cps = None
        if len(self._samples) == 2:
            (t0, c0), (t1, c1) = self._samples
            cps = max(0.0, (c1 - c0) / (t1 - t0)) if t1 > t0 else None
        if (
            self._samples
            and self._changed_at is not None
            and now - self._changed_at > 2 * self.options.interval + 1
        ):
            cps = 0.0  # no IPVS change came: the counters stood still
        try:
            return director_view(
                self.name,
                self.hello,
                self.state,
                status=LIVE,
                reason=self.reason,
                since=self.since,
                cps=cps,
                updated_at=self._updated_at,
                bytes_in=self.bytes_in,
            )
        except ValueError as exc:
            return Director(name=self.name, status=DOWN, reason=str(exc), since=self.since)

    def _set(self, status: str, reason: str = "") -> None:
        if status != self.status or reason != self.reason:
            self.status, self.reason, self.since = status, reason, self.clock()
        self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self)

    # -- the connection --------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, follow, reconnect with backoff; until ``close``."""
        failures = 0
        while not self._closing:
            self.attempts += 1
            self.retry_at = None
            self._set(CONNECTING, self.reason)
            reason = await self._session()
            if self._closing:
                break
            if self.status == LIVE:
                failures = 0  # it worked for a while: start the backoff again
            delay = BACKOFF[min(failures, len(BACKOFF) - 1)]
            failures += 1
            self.retry_at = self.clock() + delay
            self._set(DOWN, reason)
            self._fail_pending(reason)
            self._wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    def reconnect_now(self) -> None:
        self._wake.set()

    async def _session(self) -> str:
        argv, agent_file = command(self.target, self.options)
        self._stderr.clear()
        self.state = None
        self.bytes_in = 0
        self._samples.clear()
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                limit=MAX_LINE,
                start_new_session=True,
            )
        except OSError as exc:
            return f"cannot run {argv[0]}: {exc.strerror or exc}"
        self._proc = proc
        err_task = asyncio.create_task(self._read_stderr(proc))
        reason = "the connection closed"
        try:
            reason = await self._follow(proc, agent_file)
        except (OSError, ValueError, LvstopError) as exc:
            reason = str(exc) or type(exc).__name__
        finally:
            await self._end(proc)
            await asyncio.wait([err_task], timeout=2)
            self._proc = None
        return self._reason(reason)

    def _reason(self, reason: str) -> str:
        """Why the session ended, in the words that matter: the last thing ssh, sudo or
        python said on stderr when the agent itself said nothing."""
        said = [s for s in self._stderr if s and not s.startswith("Warning: Permanently")]
        if said and reason in ("the connection closed", "no hello from the agent"):
            reason = said[-1]
            if reason.startswith("sudo: "):  # `sudo -n` said no (a password, no rule)
                reason = "sudo refused: " + reason.removeprefix("sudo: ")
        return reason

    async def _read_stderr(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        with contextlib.suppress(OSError, ValueError):
            async for raw in proc.stderr:
                text = raw.decode("utf-8", "replace").strip()
                if text:
                    self._stderr.append(text[:300])

    async def _end(self, proc: asyncio.subprocess.Process) -> None:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 3)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()

    async def _line(self, proc: asyncio.subprocess.Process, within: float) -> dict[str, Any]:
        assert proc.stdout is not None
        try:
            async with asyncio.timeout(within):
                raw = await proc.stdout.readline()
        except TimeoutError:
            raise LvstopError(f"no answer for {within:.0f} s") from None
        if not raw:
            raise LvstopError("the connection closed")
        self.bytes_in += len(raw)
        try:
            msg = json.loads(raw)
        except ValueError:
            text = raw.decode("utf-8", "replace").strip()[:200]
            raise LvstopError(f"not an lvstop agent: said {json.dumps(text)}") from None
        if not isinstance(msg, dict):
            raise LvstopError("not an lvstop agent: a line that is not an object")
        kind = str(msg.get("type"))[:20]
        self.bytes_by_type[kind] = self.bytes_by_type.get(kind, 0) + len(raw)
        return msg

    async def _follow(self, proc: asyncio.subprocess.Process, agent_file: bytes | None) -> str:
        first_wait = self.options.connect_timeout + 60.0
        msg = await self._line(proc, first_wait)
        if msg.get("type") == "bootstrap":
            if msg.get("send"):
                if agent_file is None:
                    raise LvstopError("the director asked for an agent file to run locally")
                assert proc.stdin is not None
                proc.stdin.write(agent_file)
                await proc.stdin.drain()
            msg = await self._line(proc, first_wait)
        if msg.get("type") == "error":
            return str(msg.get("error"))[:300]
        if msg.get("type") != "hello":
            return "no hello from the agent"
        if msg.get("schema") != SCHEMA:
            return (
                f"the director's agent speaks {json.dumps(msg.get('schema'))[:40]}, "
                f"not {SCHEMA} (lvstop {str(msg.get('lvstop'))[:20]} there)"
            )
        self.hello = msg
        while not self._closing:
            msg = await self._line(proc, SILENCE)
            kind = msg.get("type")
            now = self.clock()
            if kind == "snapshot":
                self.state = load_state(msg.get("state"))
                self._sample(float(msg.get("time", now)), ipvs_changed=True)
                self._set(LIVE, "")
            elif kind == "update":
                if self.state is None:
                    raise LvstopError("an update before the snapshot")
                changed, deleted = msg.get("set", {}), msg.get("del", {})
                apply_update(self.state, changed, deleted)
                for section in {*changed, *deleted}:
                    self.updates_by_section[section] = self.updates_by_section.get(section, 0) + 1
                ipvs = any(s in changed or s in deleted for s in ("service", "real_server"))
                self._sample(float(msg.get("time", now)), ipvs_changed=ipvs)
                self._changed()
            elif kind == "tick":
                self._sample(float(msg.get("time", now)), ipvs_changed=False)
            elif kind == "event":
                if self.on_event is not None:
                    self.on_event(self.name, msg)
            elif kind in ("result", "error"):
                self._answer(msg)
        return "closed"

    def _sample(self, when: float, ipvs_changed: bool) -> None:
        self._updated_at = self.clock()
        if self.state is None:
            return
        if ipvs_changed or not self._samples:
            total = sum(
                int((s.get("stats") or {}).get("conns", 0)) for s in self.state["service"].values()
            )
            self._samples.append((when, total))
            self._changed_at = self.clock()

    def _answer(self, msg: dict[str, Any]) -> None:
        rid = msg.get("id")
        future = self._pending.pop(rid, None) if isinstance(rid, int) else None
        if future is None:
            if self.on_event is not None and msg.get("type") == "error":
                self.on_event(
                    self.name, {"source": "agent", "kind": "error", "text": str(msg.get("error"))}
                )
            return
        if not future.done():
            future.set_result(msg)

    def _fail_pending(self, reason: str) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(FleetError(f"{self.name}: {reason}"))
        self._pending.clear()

    async def request(self, op: str, within: float = 60.0, **args: Any) -> dict[str, Any]:
        """Ask the agent; its result, or FleetError with its one-line reason."""
        proc = self._proc
        if self.status != LIVE or proc is None or proc.stdin is None:
            raise FleetError(f"{self.name}: not connected ({self.reason or self.status})")
        rid = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        data = json.dumps({"id": rid, "op": op, **args}, separators=(",", ":")) + "\n"
        try:
            proc.stdin.write(data.encode())
            await proc.stdin.drain()
            async with asyncio.timeout(within):
                msg = await future
        except TimeoutError:
            raise FleetError(
                f"{self.name}: no answer to {op} in {within:.0f} s; it may still happen there"
            ) from None
        except (OSError, ConnectionError) as exc:
            raise FleetError(f"{self.name}: {exc}") from None
        finally:
            self._pending.pop(rid, None)
        if msg.get("type") == "error":
            raise FleetError(f"{self.name}: {msg.get('error')}")
        return msg

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        proc = self._proc
        if proc is not None:
            if proc.stdin is not None:
                with contextlib.suppress(OSError, RuntimeError):
                    proc.stdin.close()
            await self._end(proc)
