"""Inside the lab VM: build the topology, start and stop its daemons, check its health.

Only used inside the UML kernel (``LVSTOP_IN_LAB=1``). State lives in files so that every
process (the boot, the inner pytest, ``lvstop lab fault`` run from a shell, the dashboard) sees
the same lab: per-node runtime files under ``/run/lvstop-lab/<node>/`` (pid files,
keepalived.conf, logs, and keepalived's .data/.json/.stats dumps, since each keepalived runs
with ``TMPDIR`` set to its node folder).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

from lvstop.errors import LvstopError
from lvstop.lab import topology as topo_mod
from lvstop.lab.topology import Node, Topology
from lvstop.lab.vm import HOST_LOAD_FILE

RUN_ROOT = Path("/run/lvstop-lab")
NETNS_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000
KEEPALIVED_PIDS = ("keepalived.pid", "vrrp.pid", "checkers.pid")


class LabError(LvstopError):
    """A lab step that failed; the message is one line naming what and why."""


#: A lab on a host this busy is given at most this many times its deadlines.
MAX_LOAD_FACTOR = 8.0


def load_factor() -> float:
    """How many times slower than on an idle host the lab runs now, at least 1: the host's
    load per CPU, as the host writes it to the run folder every second (``vm.HOST_LOAD_FILE``).
    Deadlines of waits in the lab are multiplied by it: a busy host slows the one-CPU VM."""
    run_dir = os.environ.get("LVSTOP_LAB_RUN_DIR")
    if not run_dir:
        return 1.0
    try:
        load, cpus = (float(v) for v in (Path(run_dir) / HOST_LOAD_FILE).read_text().split())
    except (OSError, ValueError):
        return 1.0
    return min(MAX_LOAD_FACTOR, max(1.0, load / max(cpus, 1.0)))


def in_lab() -> bool:
    return os.environ.get("LVSTOP_IN_LAB") == "1" and NETNS_DIR.is_dir()


def require_lab() -> None:
    if not in_lab():
        raise LabError(
            "this only works inside the lab VM (use `lvstop lab run -- ...` or `lvstop lab shell`)"
        )


def node_dir(node: str) -> Path:
    path = RUN_ROOT / node
    path.mkdir(parents=True, exist_ok=True)
    return path


# --- commands ------------------------------------------------------------------------------


def sh(
    argv: Sequence[str], *, check: bool = True, timeout: float = 30.0, what: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command, capture its output; on failure raise a one-line LabError."""
    scaled = timeout * load_factor()
    try:
        proc = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=scaled, check=False
        )
    except FileNotFoundError:
        raise LabError(f"{what or argv[0]}: {argv[0]} not found") from None
    except subprocess.TimeoutExpired:
        raise LabError(f"{what or ' '.join(argv)}: timed out after {scaled:g}s") from None
    if check and proc.returncode != 0:
        err = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        detail = err[-1] if err else f"exit status {proc.returncode}"
        raise LabError(f"{what or ' '.join(argv)}: {detail}")
    return proc


def ns_argv(node: str, argv: Sequence[str]) -> list[str]:
    return ["ip", "netns", "exec", node, *argv]


def root_argv(argv: Sequence[str]) -> list[str]:
    """``argv`` in the VM's root netns (where the bridge is), wherever the caller lives: the
    dashboard and `lvstop lab run` run inside d1's netns."""
    return ["nsenter", "--net=/proc/1/ns/net", *argv]


def netns_exists(node: str) -> bool:
    return (NETNS_DIR / node).exists()


_libc: ctypes.CDLL | None = None


def _setns(fd: int) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


@contextmanager
def netns(node: str) -> Iterator[None]:
    """Move the calling thread into ``node``'s network namespace for the block."""
    if not netns_exists(node):
        raise LabError(f"no network namespace {node!r} in the lab")
    original = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(NETNS_DIR / node, os.O_RDONLY)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(original)
    finally:
        os.close(target)
        os.close(original)


# --- processes -----------------------------------------------------------------------------


def pid_alive(pid: int) -> bool:
    # Reap it if it is our own dead child, so it does not linger as a zombie.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def live_pid(path: Path) -> int | None:
    pid = read_pid(path)
    return pid if pid is not None and pid_alive(pid) else None


def spawn(
    node: str,
    argv: Sequence[str],
    *,
    log: Path,
    pidfile: Path | None = None,
    env: dict[str, str] | None = None,
) -> int:
    """Start a daemon in ``node``'s netns, detached from the caller (own session)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    with log.open("ab") as out:
        proc = subprocess.Popen(
            ns_argv(node, argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=full_env,
        )
    if pidfile is not None:
        pidfile.write_text(f"{proc.pid}\n")
    return proc.pid


def wait_for(
    predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.1
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() >= deadline:
            raise LabError(f"{what}: not after {timeout:g}s")
        time.sleep(interval)


def kill_pids(pids: Sequence[int], sig: int, *, timeout: float = 10.0, what: str) -> None:
    for pid in pids:
        with suppress(ProcessLookupError):
            os.kill(pid, sig)
    wait_for(lambda: not any(pid_alive(p) for p in pids), timeout, what)


# --- topology ------------------------------------------------------------------------------


def add_node(topo: Topology, node: Node) -> None:
    """A netns with ``eth0`` (a veth whose peer ``v-<node>`` is on the bridge) and lo up."""
    name = node.name
    peer = f"v-{name}"
    sh(["ip", "netns", "add", name], what=f"create netns {name}")
    sh(
        root_argv(
            [
                "ip",
                "link",
                "add",
                peer,
                "type",
                "veth",
                "peer",
                "name",
                node.interface,
                "netns",
                name,
            ]
        ),
        what=f"veth for {name}",
    )
    sh(root_argv(["ip", "link", "set", peer, "master", topo.bridge, "up"]), what=f"attach {name}")
    sh(
        [
            "ip",
            "-n",
            name,
            "addr",
            "add",
            f"{node.address}/{topo.prefixlen}",
            "dev",
            node.interface,
        ],
        what=f"address of {name}",
    )
    sh(["ip", "-n", name, "link", "set", node.interface, "up"], what=f"{name} eth0 up")
    sh(["ip", "-n", name, "link", "set", "lo", "up"], what=f"{name} lo up")


def remove_node(node: str) -> None:
    if netns_exists(node):
        # Deleting the netns deletes eth0 and with it the veth peer on the bridge.
        sh(["ip", "netns", "del", node], what=f"delete netns {node}")


def add_bridge(topo: Topology) -> None:
    sh(
        root_argv(
            [
                "ip",
                "link",
                "add",
                topo.bridge,
                "type",
                "bridge",
                "stp_state",
                "0",
                "forward_delay",
                "0",
                "mcast_snooping",
                "0",
            ]
        ),
        what="create the bridge",
    )
    sh(root_argv(["ip", "link", "set", topo.bridge, "up"]), what="bridge up")


def setup_real_server(topo: Topology, node: Node) -> None:
    """DR real server: every VIP on lo as /32, and never answer ARP for it."""
    sysctls = []
    for dev in ("all", "lo"):
        sysctls += [
            "-w",
            f"net.ipv4.conf.{dev}.arp_ignore=1",
            "-w",
            f"net.ipv4.conf.{dev}.arp_announce=2",
        ]
    sh(ns_argv(node.name, ["sysctl", "-q", *sysctls]), what=f"arp sysctls on {node.name}")
    for vip in topo.vips:
        sh(
            ["ip", "-n", node.name, "addr", "add", f"{vip}/32", "dev", "lo"],
            what=f"VIP {vip} on {node.name} lo",
        )


def httpd_running(node: str) -> int | None:
    return live_pid(node_dir(node) / "httpd.pid")


def start_httpd(topo: Topology, node: str) -> int:
    pid = httpd_running(node)
    if pid is not None:
        return pid
    d = node_dir(node)
    return spawn(
        node,
        [sys.executable, "-m", "lvstop.lab.httpd", node, str(topo.http_port)],
        log=d / "httpd.log",
        pidfile=d / "httpd.pid",
    )


def stop_httpd(node: str) -> int | None:
    pid = httpd_running(node)
    if pid is not None:
        kill_pids([pid], signal.SIGTERM, what=f"stop HTTP on {node}")
    (node_dir(node) / "httpd.pid").unlink(missing_ok=True)
    return pid


def keepalived_pids(node: str) -> list[int]:
    d = node_dir(node)
    return [pid for name in KEEPALIVED_PIDS if (pid := live_pid(d / name)) is not None]


def keepalived_main_pid(node: str) -> int | None:
    return live_pid(node_dir(node) / "keepalived.pid")


def write_keepalived_config(node: str, text: str) -> Path:
    path = node_dir(node) / "keepalived.conf"
    path.write_text(text)
    return path


def start_keepalived(node: str, *, wait: float = 10.0) -> int:
    """keepalived in ``node``'s netns, its files in /run/lvstop-lab/<node>/."""
    pid = keepalived_main_pid(node)
    if pid is not None:
        return pid
    d = node_dir(node)
    for name in KEEPALIVED_PIDS:
        (d / name).unlink(missing_ok=True)
    argv = [
        "keepalived",
        "-n",
        "-l",
        "-D",
        "-G",
        "-f",
        str(d / "keepalived.conf"),
        "-p",
        str(d / "keepalived.pid"),
        "-r",
        str(d / "vrrp.pid"),
        "-c",
        str(d / "checkers.pid"),
    ]
    # keepalived writes its SIGUSR1/SIGUSR2/JSON dumps into $TMPDIR: one folder per node.
    spawn(node, argv, log=d / "keepalived.log", env={"TMPDIR": str(d)})
    wait_for(
        lambda: keepalived_main_pid(node) is not None,
        wait,
        f"keepalived on {node} did not start (see {d / 'keepalived.log'})",
    )
    pid = keepalived_main_pid(node)
    assert pid is not None
    return pid


def stop_keepalived(node: str, *, sig: int = signal.SIGTERM, timeout: float = 10.0) -> list[int]:
    pids = keepalived_pids(node)
    if pids:
        targets = pids if sig == signal.SIGKILL else pids[:1]
        if sig == signal.SIGKILL:
            # Freeze all three first: a parent killed first would have its children told
            # (they exit cleanly, releasing VIPs), a child killed first would be respawned.
            for pid in targets:
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGSTOP)
        for pid in targets:
            with suppress(ProcessLookupError):
                os.kill(pid, sig)
        wait_for(
            lambda: not any(pid_alive(p) for p in pids), timeout, f"keepalived on {node} to exit"
        )
    return pids


def keepalived_all() -> dict[int, int]:
    """pid -> ppid of every live keepalived process in the VM."""
    found: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        comm = stat[stat.find("(") + 1 : stat.rfind(")")]
        fields = stat.rsplit(")", 1)[1].split()
        if comm == "keepalived" and fields[0] not in ("Z", "X"):
            found[int(entry)] = int(fields[1])
    return found


def stray_keepalived(nodes: Sequence[str]) -> list[int]:
    """keepalived processes that belong to none of ``nodes`` (started by a test by hand)."""
    known: set[int] = set()
    for node in nodes:
        if (RUN_ROOT / node).is_dir():
            known.update(keepalived_pids(node))
    return sorted(
        pid for pid, ppid in keepalived_all().items() if pid not in known and ppid not in known
    )


def kill_stray_keepalived(nodes: Sequence[str]) -> list[int]:
    strays = stray_keepalived(nodes)
    if strays:
        try:
            kill_pids(strays, signal.SIGTERM, timeout=5, what="stray keepalived to exit")
        except LabError:
            kill_pids(strays, signal.SIGKILL, timeout=5, what="stray keepalived to die")
    return strays


# --- health --------------------------------------------------------------------------------


def _nl_ipv4_addresses() -> list[tuple[int, str]]:
    """(ifindex, address) of every IPv4 address in the calling thread's netns (rtnetlink)."""
    rtm_getaddr, nlm_f_request, nlm_f_dump = 22, 1, 0x300
    nlmsg_done, nlmsg_error, ifa_local, ifa_address = 3, 2, 2, 1
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as sock:
        body = struct.pack("BBBBI", socket.AF_INET, 0, 0, 0, 0)
        hdr = struct.pack("=IHHII", 16 + len(body), rtm_getaddr, nlm_f_request | nlm_f_dump, 1, 0)
        sock.send(hdr + body)
        out: list[tuple[int, str]] = []
        while True:
            data = sock.recv(65536)
            off = 0
            while off + 16 <= len(data):
                length, kind, _flags, _seq, _pid = struct.unpack_from("=IHHII", data, off)
                if kind == nlmsg_done:
                    return out
                if kind == nlmsg_error:
                    raise OSError(errno.EIO, "netlink error dumping addresses")
                _fam, _plen, _fl, _scope, index = struct.unpack_from("BBBBI", data, off + 16)
                attrs = off + 24
                found: dict[int, str] = {}
                while attrs + 4 <= off + length:
                    alen, atype = struct.unpack_from("=HH", data, attrs)
                    if alen < 4:
                        break
                    if atype in (ifa_local, ifa_address) and alen == 8:
                        found[atype] = socket.inet_ntoa(data[attrs + 4 : attrs + 8])
                    attrs += (alen + 3) & ~3
                addr = found.get(ifa_local) or found.get(ifa_address)
                if addr:
                    out.append((index, addr))
                off += (length + 3) & ~3


def addresses(node: str, interface: str | None = None) -> set[str]:
    """IPv4 addresses in ``node`` (on ``interface`` only, if given)."""
    with netns(node):
        found = _nl_ipv4_addresses()
        if interface is None:
            return {addr for _, addr in found}
        try:
            index = socket.if_nametoindex(interface)
        except OSError:
            return set()
        return {addr for i, addr in found if i == index}


def _hex_ipport(text: str) -> str:
    host, port = text.split(":")
    return f"{socket.inet_ntoa(bytes.fromhex(host))}:{int(port, 16)}"


def ipvs_table(node: str) -> dict[str, list[str]]:
    """``node``'s IPVS services -> real servers ("ip:port"), from /proc/net/ip_vs."""
    with netns(node):
        try:
            text = Path("/proc/thread-self/net/ip_vs").read_text()
        except FileNotFoundError:
            return {}
    table: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in ("TCP", "UDP", "SCTP"):
            current = table.setdefault(f"{parts[0]} {_hex_ipport(parts[1])}", [])
        elif (
            len(parts) >= 2
            and parts[0] == "->"
            and current is not None
            and ":" in parts[1]
            and parts[1] != "RemoteAddress:Port"
        ):
            current.append(_hex_ipport(parts[1]))
    return table


def health_problems(topo: Topology) -> list[str]:
    """What keeps the lab from its healthy default; empty when it is healthy."""
    problems: list[str] = []
    held = {d.name: addresses(d.name, d.interface) for d in topo.directors}
    for inst in topo.vrrp:
        holders = sorted(name for name, addrs in held.items() if inst.vip in addrs)
        if holders != [inst.master]:
            problems.append(
                f"VRID {inst.vrid} VIP {inst.vip} is on "
                f"{', '.join(holders) or 'no director'}, want {inst.master}"
            )
    wanted = {f"{svc.protocol} {svc.vip}:{svc.port}" for svc in topo.services}
    for director in topo.directors:
        table = ipvs_table(director.name)
        extra = sorted(set(table) - wanted)
        if extra:
            problems.append(f"{director.name} has extra IPVS services {', '.join(extra)}")
        for svc in topo.services:
            key = f"{svc.protocol} {svc.vip}:{svc.port}"
            want = sorted(f"{topo.address_of(rs)}:{svc.port}" for rs in svc.real_servers)
            have = sorted(table.get(key, []))
            if have != want:
                problems.append(
                    f"{director.name} {key} has [{', '.join(have)}], want [{', '.join(want)}]"
                )
    return problems


# --- fault bookkeeping ----------------------------------------------------------------------

FAULTS_FILE = RUN_ROOT / "faults.json"


def applied_faults() -> dict[str, dict[str, object]]:
    """key -> {"undo": fault name, "params": {...}} for faults not yet undone."""
    try:
        data = json.loads(FAULTS_FILE.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def record_fault(key: str, undo: str, params: dict[str, object]) -> None:
    data = applied_faults()
    data[key] = {"undo": undo, "params": params}
    _write_faults(data)


def clear_fault(key: str) -> None:
    data = applied_faults()
    if data.pop(key, None) is not None:
        _write_faults(data)


def _write_faults(data: dict[str, dict[str, object]]) -> None:
    RUN_ROOT.mkdir(parents=True, exist_ok=True)
    tmp = FAULTS_FILE.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, sort_keys=True))
    tmp.replace(FAULTS_FILE)


def default_topology() -> Topology:
    return topo_mod.default_topology()
