"""``lvstop agent``: this director's IPVS, VRRP, keepalived and host as ``lvstop.agent/1`` JSON
lines on stdout, and writes asked for on stdin (``lvstop.agent.protocol``).

Standard library only, like everything it imports (``lvstop.agent.bundle`` builds the
self-contained file from this closure and a test runs it under ``python3 -I -S``).

Threads, each with one job:
- the main thread polls every ``interval`` and sends what changed (``Agent.poll``);
- ``lvstop-agent-stdin`` reads requests; EOF (the client or its ssh went away) stops the agent;
- ``lvstop-agent-writes`` answers requests one at a time, through ``lvstop.actions`` (the same
  validation, read-back, audit log and drained-weights file as ``lvstop drain``);
- ``lvstop-agent-vrrp`` feeds the capture's adverts to the VRRP tracker;
- ``lvstop-agent-keepalived`` asks keepalived for its state dumps (they take up to 2 s).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import queue
import select
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import IO, Any

from lvstop import __version__
from lvstop.actions import add_write_options
from lvstop.agent import probe
from lvstop.agent.protocol import (
    HEARTBEAT,
    MAX_CONNS,
    MAX_REQUEST,
    SCHEMA,
    WRITE_OPS,
    Request,
    RequestError,
    State,
    diff_state,
    empty_state,
    error_line,
    line,
    parse_request,
)
from lvstop.errors import LvstopError, one_line
from lvstop.model.ipvs import IpvsSnapshot, Service, Stats, service_json
from lvstop.model.vrrp import VridState

#: seconds between the host figures (they move all the time; the fleet needs them coarse)
HOST_EVERY = 10.0
#: seconds between two keepalived dump rounds asked for on the agent's own
KEEPALIVED_EVERY = 60.0
#: seconds at least between two rounds, whatever triggers them
KEEPALIVED_GAP = 2.0
#: seconds a dashboard's request for keepalived's verdicts keeps its check data dumped
VERDICTS_WATCHED = 30.0
#: seconds between two scans of /proc for keepalived's processes (a VIP moving, a VRRP event
#: or the known parent gone scan at once)
SCAN_EVERY = 5.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--interval", type=float, default=1.0, metavar="S", help="seconds between polls (default 1)"
    )
    parser.add_argument(
        "--iface",
        action="append",
        default=[],
        metavar="IF",
        help="capture VRRP on this interface (repeatable; default all)",
    )
    parser.add_argument("--no-vrrp", action="store_true", help="no VRRP capture")
    parser.add_argument("--read-only", action="store_true", help="refuse every write request")
    parser.add_argument(
        "--keepalived-state",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="signal keepalived for its own instance states (default: when root)",
    )
    add_write_options(parser)  # --audit-log, --state-file: as lvstop drain's


# -- output ----------------------------------------------------------------------------------


class Output:
    """Protocol lines to stdout, whole lines only, from any thread; a closed pipe stops us."""

    def __init__(self, stream: IO[bytes], stop: threading.Event) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._stop = stop
        self.last = time.monotonic()
        self.bytes = 0

    def send(self, message: dict[str, Any]) -> None:
        self.raw(line(message))

    def raw(self, text: str) -> None:
        data = text.encode("ascii", "backslashreplace")
        with self._lock:
            try:
                self._stream.write(data)
                self._stream.flush()
            except (BrokenPipeError, OSError, ValueError):
                self._stop.set()
                return
            self.last = time.monotonic()
            self.bytes += len(data)


# -- the wire (VRRP) ---------------------------------------------------------------------------


def vrid_view(v: VridState) -> dict[str, Any]:
    """What the fleet needs of one VRID: its master and the routers' priorities, without the
    counters and times that move with every advert (so a steady VRID sends nothing)."""
    master = v.master_router
    return {
        "family": v.family,
        "vrid": v.vrid,
        "interface": v.interface,
        "master": v.master,
        "master_priority": None if master is None else master.priority,
        "master_since": v.master_since,
        "routers": sorted([r.src, r.priority] for r in v.routers),
        "vips": sorted({a for r in v.routers for a in r.addresses}),
        "split_brain": v.split_brain,
        "conflict_fields": list(v.conflict_fields),
        "silent": v.silent,
        "bogus": v.bogus,
        "failovers": v.failovers,
        "last_gap_ms": v.last_gap_ms,
        "local_vips": list(v.local_vips),
        "host_mismatch": v.host_mismatch,
        "too_many_senders": v.too_many_senders,
    }


class Wire:
    """AF_PACKET capture → VRRP tracker on a thread; events queued for the agent."""

    def __init__(self, interfaces: list[str] | None) -> None:
        from lvstop.track.vrrp import VrrpTracker

        self.interfaces = interfaces
        self.tracker = VrrpTracker(per_interface=True)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.events: list[Any] = []
        self.error: str | None = None
        self._capture: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        from lvstop.sources.vrrp_capture import VrrpCapture

        def on_advert(advert: Any) -> None:
            self.events.extend(self.tracker.feed(advert))

        try:
            self._capture = VrrpCapture(self.interfaces, on_advert)
            self._capture.open()
        except LvstopError as exc:
            self.error = str(exc)
            self._capture = None
            return
        self._thread = threading.Thread(target=self._run, name="lvstop-agent-vrrp", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        poller = select.poll()
        for fd in self._capture.filenos():
            poller.register(fd, select.POLLIN)
        try:
            while not self._stop.is_set():
                poller.poll(500)
                with self._lock:
                    self._capture.drain()
        except Exception as exc:  # shown in the state; the rest of the agent goes on
            self.error = f"the VRRP capture stopped: {one_line(exc)}"

    def read(self, addresses: frozenset[str]) -> tuple[dict[str, Any], list[Any]]:
        now = time.time()
        with self._lock:
            self.events.extend(self.tracker.set_local_addresses(addresses, now))
            self.events.extend(self.tracker.tick(now))
            snap = self.tracker.snapshot(now)
            events, self.events = self.events, []
        return {v.key: vrid_view(v) for v in snap.vrids}, events

    def snapshot(self, events_after: float | None = None) -> dict[str, Any]:
        """The tracker's whole state as ``lvstop vrrp --json`` writes it (a dashboard over
        the agent shows it in its VRRP panel; the fleet's ``vrid`` section is its summary);
        of its recent events only those after ``events_after`` (the ones the asker has not
        seen: a quiet wire sends its VRIDs, not its history, every poll)."""
        if self.error:
            raise LvstopError(self.error)
        if self._capture is None:
            raise LvstopError("the VRRP capture is closed")
        now = time.time()
        source = "live: " + (", ".join(self.interfaces) if self.interfaces else "all")
        with self._lock:
            self.events.extend(self.tracker.tick(now))
            snap = self.tracker.snapshot(now, capture=self._capture.stats(), source=source)
        if events_after is not None:
            snap = dataclasses.replace(
                snap, events=tuple(e for e in snap.events if e.time > events_after)
            )
        return dict(snap.to_dict())

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._capture is not None:
            with self._lock:
                self._capture.close()


# -- keepalived --------------------------------------------------------------------------------


class Keepalived:
    """keepalived's processes, its config's VRRP instances and (when allowed) its own state
    of each instance from its data dump, asked for on a thread of its own."""

    def __init__(self, signals: bool, no_signals: str | None = None) -> None:
        from lvstop.track.ka_dumps import DumpPolicy

        self.signals = signals
        #: why keepalived is never signalled here (None when it may be)
        self.no_signals = None if signals else (no_signals or "not root")
        #: the last dump with keepalived's check data (the verdicts' source), its parent pid
        self._runtime: Any = None
        self._runtime_pid: int | None = None
        #: when a dashboard last asked for the verdicts (check data is dumped only then)
        self._verdicts_wanted = 0.0
        self._urge_dump = False
        self._policy_lock = threading.Lock()
        self.policy = DumpPolicy(KEEPALIVED_EVERY)
        self._ipvs: IpvsSnapshot | None = None
        self._config: Any = None
        self._config_key: tuple[str, float] | None = None
        self._config_error: str | None = None
        self._dump: dict[str, Any] | None = None  # name -> InstanceState
        self._dump_addresses: frozenset[str] | None = None
        self._dump_pid: int | None = None
        self._asked = 0.0
        self._busy = threading.Lock()
        self.problems: tuple[str, ...] = ()
        #: instance name -> (state, since): the agent's own record of transitions
        self._seen: dict[str, tuple[str, float]] = {}
        self._procs: tuple[Any, ...] = ()
        self._scanned = 0.0

    def _processes(self, now: float, urge: bool) -> Any:
        """keepalived's processes: a /proc scan every ``SCAN_EVERY`` s (or when urged, or when
        the parent seen last is gone); in between the last scan's."""
        from lvstop.sources import keepalived_state

        parent = next((p for p in self._procs if p.role == "parent"), None)
        gone = parent is not None and not os.path.exists(f"/proc/{parent.pid}")
        if urge or gone or now - self._scanned >= SCAN_EVERY:
            self._procs = keepalived_state.own_netns_processes(
                keepalived_state.find_processes(probe.keepalived_process_infos())
            )
            self._scanned = now
        return self._procs

    def _load_config(self, parent: Any) -> Any:
        from lvstop.sources import keepalived_conf

        path = (parent.config_path if parent else None) or keepalived_conf.DEFAULT_CONFIG
        if parent is not None:
            rooted = f"/proc/{parent.pid}/root{path if os.path.isabs(path) else '/' + path}"
            path = rooted if os.path.exists(rooted) else path
        try:
            key = (path, os.stat(path).st_mtime)
        except OSError as exc:
            self._config, self._config_key = None, None
            self._config_error = f"keepalived's config {path}: {exc.strerror}"
            return None
        if key != self._config_key:
            try:
                self._config = keepalived_conf.parse_file(path)
                self._config_error = None
            except LvstopError as exc:
                self._config, self._config_error = None, str(exc)
            self._config_key = key
        return self._config

    def _ask(
        self,
        processes: Any,
        config: Any,
        addresses: frozenset[str],
        pid: int,
        ipvs: IpvsSnapshot | None,
        check: bool,
    ) -> None:
        from lvstop.sources import keepalived_state

        try:
            runtime = keepalived_state.read_runtime(
                global_defs=config.global_defs if config else None,
                processes=processes,
                request_dumps=True,
                want_check=check,
            )
            if runtime.instances is not None:
                self._dump = {i.name: i for i in runtime.instances}
                self._dump_addresses = addresses
                self._dump_pid = pid
            if check and runtime.virtual_servers is not None and config is not None:
                from lvstop.track.drift import compute_drift
                from lvstop.track.ka_dumps import fingerprint

                with self._policy_lock:  # the dump speaks for the kernel table it was asked at
                    self.policy.asked(fingerprint(compute_drift(config, ipvs)), runtime.taken_at)
                self._runtime, self._runtime_pid = runtime, pid
            self.problems = tuple(runtime.problems)
        except Exception as exc:  # a problem to show, never the agent's end
            self.problems = (f"keepalived's dumps: {one_line(exc)}",)
        finally:
            self._busy.release()

    def read(
        self,
        addresses: frozenset[str],
        now: float,
        urge: bool,
        ipvs: IpvsSnapshot | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
        """(the instance section, the keepalived status, transition events)."""
        from lvstop.sources import keepalived_conf

        self._ipvs = ipvs
        procs = self._processes(now, urge)
        parent = next((p for p in procs if p.role == "parent"), None)
        config = self._load_config(parent)
        if parent is None or parent.pid != self._dump_pid:
            self._dump = None
        if parent is None or parent.pid != self._runtime_pid:
            self._runtime = None  # restarted: its old dumps speak for nobody
        stale = self._dump is not None and self._dump_addresses != addresses
        check = now - self._verdicts_wanted < VERDICTS_WATCHED
        urge = urge or self._urge_dump  # a dashboard's ask waits for its round
        due = urge or stale or self._dump is None or now - self._asked >= KEEPALIVED_EVERY
        if (
            self.signals
            and parent is not None
            and due
            and now - self._asked >= KEEPALIVED_GAP
            and self._busy.acquire(blocking=False)
        ):
            self._asked = now
            self._urge_dump = False
            chosen = tuple(p for p in procs if p.pid == parent.pid or p.ppid == parent.pid)
            threading.Thread(
                target=self._ask,
                name="lvstop-agent-keepalived",
                daemon=True,
                args=(chosen, config, addresses, parent.pid, ipvs, check),
            ).start()
        instances: dict[str, Any] = {}
        events: list[dict[str, Any]] = []
        for inst in config.vrrp_instances if config else ():
            vips = list(inst.vips())
            held = [v for v in vips if v in addresses]
            dumped = None if self._dump is None or stale else self._dump.get(inst.name)
            transition: float | None = None
            if parent is None:
                state, source = "STOPPED", "processes"
            elif dumped is not None:
                state, source = dumped.state, "keepalived"
                transition = dumped.last_transition
            else:
                state = "MASTER" if vips and len(held) == len(vips) else "BACKUP"
                source = "vips"
            before = self._seen.get(inst.name)
            if before is None or before[0] != state:
                self._seen[inst.name] = (state, transition or now)
                if before is not None:
                    events.append(
                        {
                            "source": "keepalived",
                            "kind": "transition",
                            "instance": inst.name,
                            "vrid": inst.virtual_router_id,
                            "text": f"{inst.name} (VRID {inst.virtual_router_id}) "
                            f"{before[0]} → {state}",
                        }
                    )
            instances[inst.name] = {
                "vrid": inst.virtual_router_id,
                "family": inst.family,
                "interface": inst.interface,
                "priority": inst.priority,
                "configured_state": inst.state,
                "vips": vips,
                "vips_held": held,
                "state": state,
                "source": source,
                "since": transition or self._seen[inst.name][1],
            }
        for name in [n for n in self._seen if n not in instances]:
            del self._seen[name]
        status = {
            "running": parent is not None,
            "pid": None if parent is None else parent.pid,
            "started": None if parent is None else parent.started,
            "config": None
            if config is None
            else ((parent.config_path if parent else None) or keepalived_conf.DEFAULT_CONFIG),
            "config_error": self._config_error,
            "signals": self.signals,
            "problems": list(self.problems),
        }
        return instances, status, events

    def verdicts(self, ask: bool, now: float) -> dict[str, Any]:
        """keepalived's view of each real server, as the local dashboard's State column has
        it (``lvstop.tui.real.KeepalivedDriftStates``): config × kernel, and keepalived's
        own check data when a dump newer than the real server's last change is at hand.
        Signals keepalived (through ``read``) only when asked or when ``DumpPolicy`` says
        the kernel table changed, never in steady state."""
        from lvstop.track.drift import compute_drift
        from lvstop.track.ka_dumps import fingerprint

        self._verdicts_wanted = now
        parent = next((p for p in self._procs if p.role == "parent"), None)
        config, ipvs = self._config, self._ipvs
        out: dict[str, Any] = {
            "running": parent is not None,
            "no_signals": self.no_signals,
            "dumped_at": None,
            "pending": False,
            "asked": None,
            "problems": list(self.problems) + ([self._config_error] if self._config_error else []),
            "verdicts": {},
        }
        if parent is None or config is None:
            return out
        derived = compute_drift(config, ipvs)
        fp = fingerprint(derived)
        with self._policy_lock:
            if self.no_signals is None:
                if ask:
                    out["asked"] = "asked with the key"
                elif self.policy.observe(fp, now):
                    out["asked"] = "the kernel table changed"
                if out["asked"]:
                    self.policy.asked(fp, now)
                    self._urge_dump = True
            current = {key: self.policy.current(key, fp) for key in fp}
            out["pending"] = self.policy.pending
        runtime = self._runtime
        told = compute_drift(config, ipvs, runtime) if runtime is not None else derived
        out["dumped_at"] = None if runtime is None else runtime.taken_at
        for vs in derived.virtual_servers:
            for rs in vs.real_servers:
                best = told.real_server(rs.key) if current.get(rs.key) else None
                pick = best or rs
                out["verdicts"][rs.key] = [pick.verdict, pick.detail, derived.drain_warning(rs.key)]
        return out


def keepalived_version() -> str | None:
    try:
        from lvstop.sources.keepalived_version import read_version

        version = read_version()
    except Exception:  # a fact for the hello, never a reason to stop
        return None
    return None if version is None else getattr(version, "version", None)


# -- the agent ---------------------------------------------------------------------------------


def ipvs_sections(snap: IpvsSnapshot) -> tuple[dict[str, Any], dict[str, Any]]:
    services: dict[str, Any] = {}
    real_servers: dict[str, Any] = {}
    for key, svc in snap.by_key().items():
        data = service_json(svc, snap.stats_of(key))
        # the service's JSON holds its real servers' objects already: each sent on its own
        for rs, rs_data in zip(svc.real_servers, data.pop("real_servers"), strict=True):
            rs_data["service"] = key
            real_servers[rs.key] = rs_data
        services[key] = data
    return services, real_servers


class Agent:
    def __init__(
        self,
        args: argparse.Namespace,
        stdin: IO[bytes],
        stdout: IO[bytes],
        writer_factory: Callable[[], Any] | None = None,
    ) -> None:
        self.args = args
        self.interval = max(0.1, float(args.interval))
        self.stop = threading.Event()
        self.out = Output(stdout, self.stop)
        self.stdin = stdin
        self.requests: queue.Queue[Request | None] = queue.Queue()
        self.poke = threading.Event()
        self._writer_factory = writer_factory
        self._writer: Any = None
        self._reader: Any = None
        self.state: State = empty_state()
        self.seq = 0
        self.cpu = probe.CpuMeter()
        self._host_at = 0.0
        self.wire: Wire | None = None
        signals = args.keepalived_state
        self.keepalived = Keepalived(
            os.geteuid() == 0 if signals is None else signals,
            "--no-keepalived-state" if signals is False else "not root",
        )
        self._ipvs: IpvsSnapshot | None = None
        self._drained_key: tuple[float, int] | None = None
        #: the services and their counters the last sections were made of
        self._last_services: tuple[tuple[Service, ...], Mapping[str, Stats]] | None = None

    # -- reading ---------------------------------------------------------------------------

    def _read_ipvs(self, state: State) -> None:
        from lvstop.sources.ipvs import IpvsReader

        try:
            if self._reader is None:
                self._reader = IpvsReader()
            snap = self._reader.read()
        except LvstopError as exc:
            if self._reader is not None:
                with contextlib.suppress(Exception):
                    self._reader.close()
                self._reader = None
            state["ipvs"]["error"] = str(exc)
            self._ipvs = None
            return
        self._ipvs = snap
        if (snap.services, snap.service_stats) == self._last_services and self.state["service"]:
            # nothing moved: the sections of the last poll (to_dict of every real server
            # each second is most of a quiet agent's CPU at 100x10)
            state["service"], state["real_server"] = (
                self.state["service"],
                self.state["real_server"],
            )
        else:
            state["service"], state["real_server"] = ipvs_sections(snap)
            self._last_services = (snap.services, snap.service_stats)
        state["ipvs"]["timeouts"] = None if snap.timeouts is None else snap.timeouts.to_dict()
        state["ipvs"]["daemons"] = [d.to_dict() for d in snap.daemons]

    def _read_drained(self, state: State) -> None:
        from lvstop import actions

        path = self.args.state_file or actions.default_state_file()
        try:
            st = os.stat(path)
            key = (st.st_mtime, st.st_size)
        except OSError:
            key = None
        if key is not None and key == self._drained_key:
            state["drained"] = dict(self.state["drained"])
            return
        try:
            state["drained"] = actions.DrainState(path).all()
            self._drained_key = key
        except LvstopError as exc:
            state["ipvs"]["drained_error"] = str(exc)

    def collect(self, now: float, urge: bool = False) -> tuple[State, list[dict[str, Any]]]:
        state = empty_state()
        events: list[dict[str, Any]] = []
        self._read_ipvs(state)
        self._read_drained(state)
        try:
            addresses = probe.local_addresses()
        except OSError as exc:
            addresses = frozenset()
            state["addresses"]["error"] = one_line(exc)
        state["addresses"]["local"] = sorted(addresses)
        if self.wire is not None:
            vrids, vrrp_events = self.wire.read(addresses)
            state["vrid"] = vrids
            if self.wire.error:
                state["ipvs"]["vrrp_error"] = self.wire.error
            for ev in vrrp_events:
                data = ev.to_dict()
                data.pop("type", None)
                events.append({"source": "vrrp", **data, "text": ev.detail or ev.kind})
            urge = urge or bool(vrrp_events)
        instances, status, ka_events = self.keepalived.read(addresses, now, urge, self._ipvs)
        state["instance"] = instances
        state["keepalived"]["status"] = status
        events.extend(ka_events)
        if now - self._host_at >= HOST_EVERY or not self.state["host"]:
            self._host_at = now
            state["host"]["stats"] = probe.host_stats(self.cpu)
        else:
            state["host"] = dict(self.state["host"])
        return state, events

    # -- sending ---------------------------------------------------------------------------

    def hello(self) -> dict[str, Any]:
        facts = probe.os_facts()
        problems = []
        if self.wire is not None and self.wire.error:
            problems.append(self.wire.error)
        return {
            "type": "hello",
            "schema": SCHEMA,
            "lvstop": __version__,
            "host": facts["host"],
            "kernel": facts["kernel"],
            "python": sys.version.split()[0],
            "keepalived": keepalived_version(),
            "uid": os.geteuid(),
            "capabilities": sorted(
                ["ipvs", "keepalived", "host", "conns", "verdicts"]
                + ([] if self.wire is None else ["vrrp"])
                + ([] if self.args.read_only else ["write"])
            ),
            "interval": self.interval,
            "problems": problems,
        }

    def poll(self, first: bool = False, urge: bool = False) -> None:
        now = time.time()
        state, events = self.collect(now, urge)
        for ev in events:
            self.out.send({"type": "event", "time": now, **ev})
        self.seq += 1
        if first:
            self.out.send({"type": "snapshot", "seq": self.seq, "time": now, "state": state})
        else:
            changed, deleted = diff_state(self.state, state)
            if changed or deleted:
                self.out.send(
                    {"type": "update", "seq": self.seq, "time": now, "set": changed, "del": deleted}
                )
            elif time.monotonic() - self.out.last >= HEARTBEAT:
                self.out.send({"type": "tick", "seq": self.seq, "time": now})
        self.state = state

    # -- requests --------------------------------------------------------------------------

    def _read_stdin(self) -> None:
        try:
            while not self.stop.is_set():
                text = self.stdin.readline(MAX_REQUEST + 1)
                if not text:
                    break  # EOF: the client is gone
                if len(text) > MAX_REQUEST and not text.endswith(b"\n"):
                    while text and not text.endswith(b"\n"):  # skip the rest of the line
                        text = self.stdin.readline(MAX_REQUEST + 1)
                    self.out.raw(error_line(f"malformed request: longer than {MAX_REQUEST} bytes"))
                    if not text:
                        break
                    continue
                if not text.strip():
                    continue
                try:
                    self.requests.put(parse_request(text))
                except RequestError as exc:
                    self.out.raw(error_line(str(exc), exc.request_id))
        except (OSError, ValueError):
            pass
        self.stop.set()
        self.requests.put(None)

    def writer(self) -> Any:
        if self._writer is None:
            if self._writer_factory is not None:
                self._writer = self._writer_factory()
            else:
                from lvstop import actions, sudo

                # under sudo: the default audit log and state file, read_only binding
                sudo.check_write_options(self.args.audit_log, self.args.state_file)
                self._writer = actions.make_writer(
                    audit_log=self.args.audit_log, state_file=self.args.state_file
                )
        return self._writer

    def answer(self, request: Request) -> dict[str, Any]:
        """The ``result`` for one request; LvstopError / OSError → its one line, by the
        caller."""
        args = request.args
        if request.op == "ping":
            return {"pong": True, "seq": self.seq}
        if request.op == "conns":
            return self._conns(args)
        if request.op == "vrrp":
            if self.wire is None:
                raise LvstopError("this agent captures no VRRP (--no-vrrp)")
            after = args.get("events_after")
            return {"snapshot": self.wire.snapshot(None if after is None else float(after))}
        if request.op == "keepalived":
            result = self.keepalived.verdicts(bool(args.get("ask", False)), time.time())
            if result["asked"]:
                self.poke.set()  # the dump round starts at the next poll, not an interval on
            return result
        if self.args.read_only:
            raise LvstopError("writes are off on this agent (--read-only)")
        writer = self.writer()
        if request.op == "drain":
            change = writer.drain(args["rs"])
        elif request.op == "restore":
            change = writer.restore(args["rs"], args.get("weight"))
        elif request.op == "weight":
            change = writer.set_weight(args["rs"], args["weight"])
        else:
            change = writer.set_timeouts(
                args.get("tcp", 0), args.get("tcpfin", 0), args.get("udp", 0)
            )
        return {
            "action": change.action,
            "target": change.target,
            "before": change.before,
            "after": change.after,
            "message": change.message,
        }

    def _conns(self, args: dict[str, Any]) -> dict[str, Any]:
        from lvstop.sources.conns import read_conns

        entries, _warnings = read_conns()
        limit = int(args.get("limit", MAX_CONNS))
        out = []
        for e in entries:
            if "service" in args and not args["service"].endswith(e.virtual_endpoint):
                continue
            if "rs" in args and not args["rs"].endswith(e.real_endpoint):
                continue
            out.append(
                {
                    "protocol": e.protocol,
                    "client": e.client_endpoint,
                    "virtual": e.virtual_endpoint,
                    "real": e.real_endpoint,
                    "state": e.state,
                    "expires": e.expires,
                }
            )
            if len(out) >= limit:
                break
        return {"conns": out, "truncated": len(out) >= limit}

    def _serve_requests(self) -> None:
        while True:
            request = self.requests.get()
            if request is None:
                return
            try:
                result = self.answer(request)
            except (LvstopError, OSError) as exc:
                self.out.raw(error_line(one_line(exc), request.id))
            except Exception as exc:  # a bug: said in one line, the agent goes on
                self.out.raw(error_line(one_line(exc), request.id))
            else:
                self.out.send({"type": "result", "id": request.id, "ok": True, **result})
            if request.op in WRITE_OPS:
                self.poke.set()  # show the change now, not at the next interval

    # -- the loop --------------------------------------------------------------------------

    def run(self) -> int:
        if not self.args.no_vrrp:
            self.wire = Wire(self.args.iface or None)
            self.wire.start()
        self.out.send(self.hello())
        threading.Thread(target=self._read_stdin, name="lvstop-agent-stdin", daemon=True).start()
        threading.Thread(
            target=self._serve_requests, name="lvstop-agent-writes", daemon=True
        ).start()
        first = True
        try:
            while not self.stop.is_set():
                if first:
                    try:
                        self.poll(first=True)
                        first = False
                    except Exception as exc:  # said in one line; tried again next interval
                        self.out.raw(error_line(f"poll: {one_line(exc)}"))
                        self.stop.wait(self.interval)
                    continue
                deadline = time.monotonic() + self.interval
                while not self.stop.is_set() and not self.poke.is_set():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self.poke.wait(min(left, 0.2))
                if self.stop.is_set():
                    break
                urge = self.poke.is_set()
                self.poke.clear()
                try:
                    self.poll(urge=urge)
                except Exception as exc:  # said in one line; the next poll tries again
                    self.out.raw(error_line(f"poll: {one_line(exc)}"))
        finally:
            if self.wire is not None:
                self.wire.close()
        return 0


def run(args: argparse.Namespace) -> int:
    agent = Agent(args, sys.stdin.buffer, sys.stdout.buffer)
    try:
        return agent.run()
    except KeyboardInterrupt:
        return 130


def main(argv: list[str] | None = None) -> int:
    """The self-contained file's entry point (``python3 agent.pyz [options]``)."""
    parser = argparse.ArgumentParser(
        prog="lvstop-agent", description=f"lvstop's agent: {SCHEMA} JSON lines on stdin/stdout"
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except LvstopError as exc:
        sys.stdout.write(error_line(str(exc)))
        return exc.exit_code
