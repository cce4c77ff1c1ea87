"""keepalived at run time: its processes (psutil) and its own view (the data / JSON dumps).

- Processes: every process named keepalived that runs as root from a root-owned executable
  (``untrusted_reason``: any user can start a program called keepalived, and the process
  chooses the config file, pid files and dump paths read here); the parent is the one whose
  parent is not keepalived; its children are told apart by the pid files named on the parent's
  command line (``-r``/``--vrrp_pid``, ``-c``/``--checkers_pid``, ``-b``/``--bfd_pid``,
  defaults ``/run/vrrp.pid`` …), read through ``/proc/<pid>/root``. The config path comes from
  ``-f``/``--use-file`` (default ``/etc/keepalived/keepalived.conf``), the network namespace
  from ``/proc/<pid>/ns/net``.
- Dumps (keepalived 2.2.7, found in its sources and checked in the lab): the signal
  ``keepalived --signum=DATA`` (10 on Debian's build), asked of the installed keepalived on
  root's PATH (root-owned, checked) and only when the running process is that very file, else
  SIGUSR1 (``KNOWN_SIGNALS``); nothing a process names is ever executed. Sent to the parent,
  it makes the VRRP child write ``keepalived.data`` and the checker child
  ``keepalived_check.data``; ``--signum=JSON`` (36) makes the VRRP child write
  ``keepalived.json`` (only in builds with JSON support). They go to ``$TMPDIR`` of the
  keepalived process, else ``/tmp``; with ``data_use_instance`` the namespace / instance name
  is inserted before the extension. A systemd ``PrivateTmp`` keeps them out of the host's
  /tmp, so they are read as ``/proc/<pid>/root/tmp/...``. A dump older than the signal is
  shown as stale, an absent one as missing.

The text parsers (``parse_vrrp_data``, ``parse_check_data``, ``parse_vrrp_json``) are pure and
unit-tested on dumps recorded in the lab (tests/data/keepalived/).
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import json
import os
import re
import signal
import stat
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from lvstop.model.keepalived import (
    VRRP_STATES,
    CheckerState,
    DumpFile,
    GlobalDefs,
    InstanceState,
    KeepalivedProcess,
    KeepalivedRuntime,
    RealServerState,
    VirtualServerState,
)
from lvstop.sources.keepalived_conf import find_config_path

DEFAULT_PID_FILES = {
    "parent": "/run/keepalived.pid",
    "vrrp": "/run/vrrp.pid",
    "checker": "/run/checkers.pid",
    "bfd": "/run/bfd.pid",
}
_PID_OPTIONS = {
    "-p": "parent",
    "--pid": "parent",
    "-r": "vrrp",
    "--vrrp_pid": "vrrp",
    "-c": "checker",
    "--checkers_pid": "checker",
    "-b": "bfd",
    "--bfd_pid": "bfd",
}

# ---------------------------------------------------------------------------------------------
# Dump parsers (pure)

_SECTION = re.compile(r"^\s*-+<\s*(.*?)\s*>-+\s*$")
_KV = re.compile(r"^(\s*)([^=]+?)\s*=\s*(.*)$")


def _vip_with_prefix(text: str) -> str:
    addr, _, prefix = text.partition("/")
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return text
    return f"{ip}/{prefix or ip.max_prefixlen}"


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    match = re.match(r"-?\d+", text.strip())
    return int(match.group(0)) if match else None


def parse_vrrp_data(text: str) -> tuple[InstanceState, ...]:
    """The VRRP instances of a ``keepalived.data`` dump (its "VRRP Topology" section)."""
    return tuple(
        _instance_state(lines[start:end])
        for name, lines in dump_sections(text)
        if name == "VRRP Topology"
        for start, end in _blocks(lines, " VRRP Instance = ")
    )


def _blocks(lines: list[str], opener: str) -> list[tuple[int, int]]:
    """(start, end) of each run of lines that begins with a line starting with ``opener``."""
    starts = [at for at, line in enumerate(lines) if line.startswith(opener)]
    return list(zip(starts, [*starts[1:], len(lines)], strict=True))


def _epoch(text: str) -> float | None:
    """``1795654417.339763 (Thu Nov 26 00:53:37.339763 2026)`` -> the seconds."""
    try:
        return float(text.split()[0])
    except (ValueError, IndexError):
        return None


#: an instance's ``   Name = value`` lines lvstop reads: the field and its converter
_INSTANCE_FIELDS: dict[str, tuple[str, Any]] = {
    "State": ("state", str),
    "Wantstate": ("wantstate", str),
    "Virtual Router ID": ("virtual_router_id", _int),
    "Interface": ("interface", str),
    "Priority": ("priority", _int),
    "Effective priority": ("effective_priority", _int),
    "VRRP Version": ("version", _int),
    "Last transition": ("last_transition", _epoch),
}


def _instance_state(block: list[str]) -> InstanceState:
    """One ``VRRP Instance = NAME`` block: its own values are the lines indented 3 spaces;
    its addresses the lines indented further under ``Virtual IP``."""
    values: dict[str, Any] = {"name": block[0].split("=", 1)[1].strip(), "state": "INIT"}
    for line in block[1:]:
        kv = _KV.match(line) if line.startswith("   ") and line[3:4] != " " else None
        if kv and kv.group(2) in _INSTANCE_FIELDS:
            name, convert = _INSTANCE_FIELDS[kv.group(2)]
            value = convert(kv.group(3).strip())
            if value is not None:
                values[name] = value
    return InstanceState(**values, vips=_instance_vips(block))


def _instance_vips(block: list[str]) -> tuple[str, ...]:
    vips: list[str] = []
    for at, line in enumerate(block):
        if line.startswith("   Virtual IP"):
            listed = itertools.takewhile(lambda entry: entry.startswith("     "), block[at + 1 :])
            vips.extend(_vip_with_prefix(entry.split()[0]) for entry in listed)
    return tuple(vips)


def parse_vrrp_json(text: str) -> tuple[InstanceState, ...]:
    """The VRRP instances of a ``keepalived.json`` dump."""
    data = json.loads(text)
    out: list[InstanceState] = []
    for entry in data if isinstance(data, list) else ():
        info = entry.get("data") or {}
        vips = tuple(_vip_with_prefix(str(v).split()[0]) for v in info.get("vips") or ())
        out.append(
            InstanceState(
                name=str(info.get("iname")),
                state=VRRP_STATES.get(int(info.get("state", 0)), str(info.get("state"))),
                wantstate=VRRP_STATES.get(int(info.get("wantstate", 0))),
                virtual_router_id=info.get("vrid"),
                interface=info.get("ifp_ifname") or None,
                priority=info.get("base_priority"),
                effective_priority=info.get("effective_priority"),
                vips=vips,
                last_transition=info.get("last_transition"),
                version=info.get("version"),
            )
        )
    return tuple(out)


_VS_VIP = re.compile(r"^ VS VIP = (\S+), VPORT = (\d+)")
_VS_FWMARK = re.compile(r"^ VS FWMARK = (\d+)")
_VS_GROUP = re.compile(r"^ VS GROUP = \[?([^\]\s]+)\]?")
_RS = re.compile(r"^\s+RIP = (\S+), RPORT = (\d+), WEIGHT = (-?\d+)(?: EFF WEIGHT = (-?\d+))?")
_CHECKER_HEAD = re.compile(r"^ (\S.*?) -> \[([^\]]+)\]:(\w+):(\d+)\s*$")


def _bool(text: str | None, default: bool = False) -> bool:
    if text is None:
        return default
    return text.strip().lower() in ("1", "yes", "true", "on", "enabled")


#: a section header of the data dumps, ``------< Virtual server >------`` at any indentation
_HEADER = re.compile(r"^[ \t]*-+<[ \t]*(.*?)[ \t]*>-+[ \t]*$", re.MULTILINE)


def dump_sections(text: str) -> list[tuple[str, list[str]]]:
    """A data dump cut at its section headers: (section name, the lines under it), in order.

    keepalived nests "Virtual server" / "Real server" under "LVS Topology" only by
    indentation: here they are sections like the others, each real server after its
    virtual server."""
    parts = _HEADER.split(text)
    return [(name, body.splitlines()) for name, body in zip(parts[1::2], parts[2::2], strict=True)]


def parse_check_data(text: str) -> tuple[VirtualServerState, ...]:
    """Virtual and real servers (with their checkers) of a ``keepalived_check.data`` dump."""
    servers: list[tuple[dict[str, Any], list[list[str]]]] = []  # (values, each RS's lines)
    checkers: dict[tuple[str, str, int], list[CheckerState]] = {}
    for name, lines in dump_sections(text):
        if name == "Virtual server":
            servers.append((_virtual_server_values(lines), []))
        elif name == "Real server" and servers:
            servers[-1][1].append(lines)
        elif name == "Health checkers":
            for key, found in _checkers(lines).items():
                checkers.setdefault(key, []).extend(found)
    return tuple(_virtual_server_state(values, blocks, checkers) for values, blocks in servers)


def _virtual_server_values(lines: list[str]) -> dict[str, Any]:
    """A virtual server section's values by keepalived's names (the last written wins)."""
    values: dict[str, Any] = {}
    for line in lines:
        values.update(_virtual_server_line(line))
    return values


def _virtual_server_line(line: str) -> dict[str, Any]:
    stripped = line.strip()
    if m := _VS_VIP.match(line):
        return {"address": str(ipaddress.ip_address(m.group(1))), "port": int(m.group(2))}
    if m := _VS_FWMARK.match(line):
        return {"fwmark": int(m.group(1))}
    if m := _VS_GROUP.match(line):
        return {"group": m.group(1)}
    if stripped.startswith("quorum = "):  # "quorum = 7, hysteresis = 2"
        return dict(re.findall(r"(\w+) = (\d+)", line))
    if kv := _KV.match(line):
        return {kv.group(2).strip(): kv.group(3).strip()}
    if stripped.startswith(("alpha is", "omega is", "Inhibit on failure is")):
        key, _, value = stripped.rpartition(" is ")
        return {key: value}
    return {}


def _virtual_server_state(
    values: dict[str, Any],
    rs_blocks: list[list[str]],
    checkers: dict[tuple[str, str, int], list[CheckerState]],
) -> VirtualServerState:
    label = _checker_vs_label(values)
    real_servers = (_real_server_state(lines, label, checkers) for lines in rs_blocks)
    quorum = _int(values.get("quorum"))
    return VirtualServerState(
        address=values.get("address"),
        port=values.get("port"),
        fwmark=values.get("fwmark"),
        group=values.get("group"),
        protocol=values.get("protocol"),
        lb_algo=values.get("lvs_sched"),
        lb_kind=values.get("default forwarding method"),
        alive=_bool(values.get("alive"), True),
        quorum=1 if quorum is None else quorum,  # as keepalived prints it (0 stays 0)
        hysteresis=_int(values.get("hysteresis")) or 0,
        quorum_up=_bool(values.get("quorum_state_up"), True),
        sorry_server=values.get("sorry server"),
        real_servers=tuple(rs for rs in real_servers if rs is not None),
    )


def _real_server_state(
    lines: list[str], vs_label: str, checkers: dict[tuple[str, str, int], list[CheckerState]]
) -> RealServerState | None:
    """A real server section: its ``RIP = …`` line, then its values (None: no RIP line)."""
    heads = [(at, m) for at, line in enumerate(lines) if (m := _RS.match(line))]
    if not heads:
        return None
    at, head = heads[0]
    values: dict[str, str] = {}
    for line in lines[at + 1 :]:
        if kv := _KV.match(line):
            values[kv.group(2).strip()] = kv.group(3).strip()
        elif line.strip().startswith("Inhibit on failure is"):
            values["Inhibit on failure"] = line.strip().rsplit(" ", 1)[1]
    address, port = str(ipaddress.ip_address(head.group(1))), int(head.group(2))
    return RealServerState(
        address=address,
        port=port,
        weight=int(head.group(3)),
        effective_weight=_int(head.group(4)),
        alive=_bool(values.get("alive"), True),
        failed_checkers=_int(values.get("num failed checkers")) or 0,
        inhibit_on_failure=_bool(values.get("Inhibit on failure")),
        in_ipvs=_bool(values.get("RS set"), True),
        checkers=tuple(checkers.get((vs_label, address, port), ())),
    )


def _checkers(lines: list[str]) -> dict[tuple[str, str, int], list[CheckerState]]:
    """The "Health checkers" section: a ``VS -> [RS]:proto:port`` line opens each checker."""
    heads = [(at, m) for at, line in enumerate(lines) if (m := _CHECKER_HEAD.match(line))]
    ends = [at for at, _m in heads[1:]] + [len(lines)]
    found: dict[tuple[str, str, int], list[CheckerState]] = {}
    for (at, head), end in zip(heads, ends, strict=True):
        key = (head.group(1), str(ipaddress.ip_address(head.group(2))), int(head.group(4)))
        found.setdefault(key, []).append(_checker_state(lines[at + 1 : end]))
    return found


def _checker_state(lines: list[str]) -> CheckerState:
    values: dict[str, str] = {}
    for line in lines:
        if kv := _KV.match(line):
            values.setdefault(kv.group(2).strip(), kv.group(3).strip())  # the first wins
    method = values.get("Keepalive method")
    return CheckerState(
        type=method.split(",")[0].strip() if method else "?",
        enabled=_bool(values.get("Enabled"), True),
        up=_bool(values.get("Up"), True),
        has_run=_bool(values.get("Has run")),
        target=values.get("Dest"),
    )


def _checker_vs_label(vs: dict[str, Any]) -> str:
    """How the "Health checkers" section names a virtual server."""
    if vs.get("group") is not None:
        return f"[{vs['group']}]:0"
    if vs.get("fwmark") is not None:
        return f"FWM {vs['fwmark']}"
    proto = str(vs.get("protocol", "TCP")).lower()
    return f"[{vs.get('address')}]:{proto}:{vs.get('port')}"


# ---------------------------------------------------------------------------------------------
# Processes


#: root's PATH: where the installed keepalived is looked for (never ``$PATH``, never the
#: path a running process names)
ROOT_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
#: signals every keepalived since 1.x understands, for a keepalived whose binary is not the
#: installed one (an upgrade not yet restarted, a private build): DATA is SIGUSR1 on every
#: version. JSON is not here: keepalived built without JSON support leaves SIGRTMIN+2 at its
#: default action, which ends the process; it is sent only when the installed, checked
#: keepalived says (``--signum=JSON``) and the running one is that very binary.
KNOWN_SIGNALS = {"DATA": int(signal.SIGUSR1)}


def root_only(st: os.stat_result) -> bool:
    """Owned by root and writable by nobody else (group or others)."""
    return st.st_uid == 0 and not st.st_mode & 0o022


def untrusted_reason(pid: int, uids: tuple[int, ...]) -> str | None:
    """Why a process named keepalived is not taken for keepalived (None: it is).

    Only a process running as root (real, effective and saved uid 0) whose executable is
    root's (owned by uid 0, not writable by group or others) counts: any user can start a
    program called keepalived. The executable is checked through ``/proc/PID/exe`` (the file
    that runs, also when deleted), never executed."""
    if not uids or any(u != 0 for u in uids):
        return f"runs as uid {uids[0] if uids else '?'}, not root"
    try:
        st = os.stat(f"/proc/{pid}/exe")
    except PermissionError:
        # Not root ourselves: cannot look, and cannot signal it or read its files either.
        return None if os.geteuid() != 0 else "its executable cannot be checked"
    except OSError:
        return "its executable cannot be checked"
    if not stat.S_ISREG(st.st_mode) or not root_only(st):
        return "its executable is not a root-owned file writable only by root"
    return None


def _read_pid(path: str) -> int | None:
    try:
        with open(path) as handle:
            return int(handle.read().strip() or 0) or None
    except (OSError, ValueError):
        return None


def _pid_files(cmdline: list[str]) -> dict[str, str]:
    files = dict(DEFAULT_PID_FILES)
    for i, arg in enumerate(cmdline):
        opt, eq, value = arg.partition("=")
        if eq and opt in _PID_OPTIONS:
            files[_PID_OPTIONS[opt]] = value
        elif arg in _PID_OPTIONS and i + 1 < len(cmdline):
            files[_PID_OPTIONS[arg]] = cmdline[i + 1]
    return files


def _netns(pid: int) -> tuple[str | None, str | None]:
    try:
        link = os.readlink(f"/proc/{pid}/ns/net")
        inode = os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return None, None
    name = None
    try:
        for entry in sorted(os.listdir("/run/netns")):
            try:
                if os.stat(f"/run/netns/{entry}").st_ino == inode:
                    name = entry
                    break
            except OSError:
                continue
    except OSError:
        pass
    return link, name


def scan_processes() -> list[dict[str, Any]]:
    """Every live process named keepalived, one dict each (pid, ppid, cmdline, create_time,
    uids, ``untrusted``: why it is not taken for keepalived, or None).

    Read per process with its own ``psutil.Process`` (not ``process_iter``, whose cached
    objects' ``info`` another thread's call replaces under our feet)."""
    import psutil

    out: list[dict[str, Any]] = []
    for pid in psutil.pids():
        try:
            with open(f"/proc/{pid}/comm", "rb") as handle:
                if handle.read().strip() != b"keepalived":
                    continue
            proc = psutil.Process(pid)
            with proc.oneshot():
                if proc.status() == psutil.STATUS_ZOMBIE:
                    continue
                info: dict[str, Any] = {
                    "pid": pid,
                    "ppid": proc.ppid(),
                    "cmdline": proc.cmdline(),
                    "create_time": proc.create_time(),
                    "uids": tuple(proc.uids()),
                }
        except (OSError, psutil.Error):
            continue  # gone meanwhile, or unreadable
        info["untrusted"] = untrusted_reason(pid, info["uids"])
        out.append(info)
    return out


def ignored_processes(infos: Iterable[dict[str, Any]] | None = None) -> list[str]:
    """One line per process named keepalived that is not taken for keepalived."""
    return [
        f"ignored pid {i['pid']} named keepalived: {i['untrusted']}"
        for i in (scan_processes() if infos is None else infos)
        if i.get("untrusted")
    ]


def find_processes(infos: Iterable[dict[str, Any]] | None = None) -> tuple[KeepalivedProcess, ...]:
    """keepalived's processes (trusted ones only, see ``untrusted_reason``): parents first,
    each followed by its children. ``infos``: ``scan_processes()``'s dicts (tests hand in
    recorded ones)."""
    found = [
        i
        for i in (scan_processes() if infos is None else infos)
        if not i.get("untrusted") and i.get("pid") is not None and i.get("ppid") is not None
    ]
    pids = {i["pid"] for i in found}
    out: list[KeepalivedProcess] = []
    for parent in found:
        if parent["ppid"] in pids:
            continue
        cmdline = list(parent.get("cmdline") or [])
        pid = parent["pid"]
        roles: dict[int, str] = {}
        for role, path in _pid_files(cmdline).items():
            child_pid = _read_pid(f"/proc/{pid}/root{path}")
            if child_pid:
                roles[child_pid] = role
        netns, netns_name = _netns(pid)
        out.append(
            KeepalivedProcess(
                pid=pid,
                ppid=parent["ppid"],
                role="parent",
                started=float(parent.get("create_time") or 0.0),
                cmdline=tuple(cmdline),
                config_path=find_config_path(cmdline),
                netns=netns,
                netns_name=netns_name,
            )
        )
        for child in found:
            if child["ppid"] != pid:
                continue
            cpid = child["pid"]
            c_netns, c_name = _netns(cpid)
            out.append(
                KeepalivedProcess(
                    pid=cpid,
                    ppid=pid,
                    role=roles.get(cpid, "unknown"),
                    started=float(child.get("create_time") or 0.0),
                    cmdline=tuple(child.get("cmdline") or ()),
                    config_path=find_config_path(cmdline),
                    netns=c_netns,
                    netns_name=c_name,
                )
            )
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# Signals and dumps

_signum_cache: dict[tuple[str, int, int, str], int | None] = {}


def trusted_file(path: str) -> os.stat_result | None:
    """``path``'s stat when it is a regular file that root owns and only root may change,
    and so is every directory above it (its real path); else None."""
    try:
        real = os.path.realpath(path)
        st = os.stat(real)
        if not stat.S_ISREG(st.st_mode) or not root_only(st):
            return None
        parent = os.path.dirname(real)
        while True:
            if not root_only(os.stat(parent)):
                return None
            if parent == "/":
                return st
            parent = os.path.dirname(parent)
    except OSError:
        return None


def installed_keepalived() -> tuple[str, os.stat_result] | None:
    """The keepalived on root's PATH (``ROOT_PATH``), when it passes ``trusted_file``."""
    for directory in ROOT_PATH:
        path = os.path.join(directory, "keepalived")
        st = trusted_file(path)
        if st is not None:
            return os.path.realpath(path), st
    return None


def _ask_signum(binary: str, st: os.stat_result, name: str) -> int | None:
    key = (binary, st.st_ino, st.st_mtime_ns, name)
    if key not in _signum_cache:
        try:
            result = subprocess.run(
                [binary, f"--signum={name}"],
                capture_output=True,
                text=True,
                timeout=5,
                check=False,
                env={"PATH": ":".join(ROOT_PATH), "LANG": "C"},
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise OSError(f"cannot ask {binary} for the {name} signal: {exc}") from None
        text = result.stdout.strip()
        ok = result.returncode == 0 and text.isdigit() and int(text) > 0
        _signum_cache[key] = int(text) if ok else None
    return _signum_cache[key]


def signal_number(name: str) -> int:
    """``keepalived --signum=NAME`` (DATA, JSON, STATS, RELOAD...) of the installed keepalived
    (root's PATH, checked by ``trusted_file``): asked, never assumed."""
    installed = installed_keepalived()
    if installed is None:
        raise OSError("no root-owned keepalived on root's PATH to ask for its signals")
    number = _ask_signum(installed[0], installed[1], name)
    if number is None:
        raise OSError(f"{installed[0]} --signum={name}: no such signal in this build")
    return number


def signals_for(pid: int) -> tuple[dict[str, int], str | None]:
    """The DATA / JSON signal numbers for keepalived ``pid``, and a note when limited.

    Asked of the installed keepalived only when ``pid`` runs that very file (same inode):
    nothing a process names is ever executed. Otherwise DATA from ``KNOWN_SIGNALS``."""
    installed = installed_keepalived()
    try:
        running = os.stat(f"/proc/{pid}/exe")
    except OSError:
        running = None
    if (
        installed is not None
        and running is not None
        and (running.st_dev, running.st_ino) == (installed[1].st_dev, installed[1].st_ino)
    ):
        out: dict[str, int] = {}
        for name in ("DATA", "JSON"):
            number = _ask_signum(installed[0], installed[1], name)
            if number is not None:
                out[name] = number
        if "DATA" in out:
            return out, None
    where = installed[0] if installed is not None else "no root-owned keepalived on root's PATH"
    return dict(KNOWN_SIGNALS), (
        f"pid {pid} does not run the installed keepalived ({where}): only the data dumps "
        f"are asked for, with SIGUSR1"
    )


def _tmp_dir(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            for item in handle.read().split(b"\0"):
                if item.startswith(b"TMPDIR="):
                    value = item[7:].decode(errors="replace")
                    if value.startswith("/"):
                        return value.rstrip("/") or "/"
    except OSError:
        pass
    return "/tmp"


def dump_paths(pid: int, global_defs: GlobalDefs | None) -> dict[str, str]:
    """Where keepalived (parent ``pid``) writes each dump, as seen from this process."""
    defs = global_defs or GlobalDefs()
    tmp = _tmp_dir(pid)
    root = f"/proc/{pid}/root"
    return {
        kind: root + defs.dump_file(name, tmp)
        for kind, name in (
            ("data", "keepalived.data"),
            ("check_data", "keepalived_check.data"),
            ("json", "keepalived.json"),
        )
    }


def _mtime_ns(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def _wait_for(
    path: str, since: float, timeout: float, before: int | None = None
) -> tuple[str, float | None]:
    """Wait for keepalived to (re)write ``path``: its mtime changed from ``before`` or is
    newer than ``since`` (file times can lag the clock by a tick, so both are used)."""
    deadline = time.monotonic() + timeout
    mtime: float | None = None
    while True:
        try:
            st = os.stat(path)
            mtime = st.st_mtime
            if (before is not None and st.st_mtime_ns != before) or (
                before is None and mtime >= since
            ):
                return "fresh", mtime
        except FileNotFoundError:
            mtime = None
        except OSError:
            return "unreadable", None
        if time.monotonic() >= deadline:
            return ("stale" if mtime is not None else "missing"), mtime
        time.sleep(0.05)


def _settle(path: str, timeout: float) -> None:
    """Wait until keepalived has finished writing ``path`` (size and mtime stop changing)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            st = os.stat(path)
        except OSError:
            return
        now = (st.st_size, st.st_mtime_ns)
        if now == last and st.st_size > 0:
            return
        last = now
        time.sleep(0.15)


def own_netns_processes(
    processes: tuple[KeepalivedProcess, ...],
) -> tuple[KeepalivedProcess, ...]:
    """The keepalived processes of this thread's network namespace.

    When the namespaces cannot be read (not root) every process is kept."""
    try:
        mine = os.readlink("/proc/thread-self/ns/net")
    except OSError:
        return processes
    all_parents = [p for p in processes if p.role == "parent"]
    if all_parents and all(p.netns is None for p in all_parents):
        return processes  # namespaces unreadable (not root): cannot tell them apart
    parents = {p.pid for p in all_parents if p.netns == mine}
    return tuple(p for p in processes if p.pid in parents or p.ppid in parents)


def read_runtime(
    *,
    global_defs: GlobalDefs | None = None,
    request_dumps: bool = True,
    wait: float = 2.0,
    processes: tuple[KeepalivedProcess, ...] | None = None,
    want_vrrp: bool = True,
    want_check: bool = True,
) -> KeepalivedRuntime:
    """keepalived's processes and (``request_dumps``: signal it) its data / JSON dumps."""
    now = time.time()
    procs = find_processes() if processes is None else processes
    parents = [p for p in procs if p.role == "parent"]
    if not parents:
        return KeepalivedRuntime(processes=procs, taken_at=now, problems=("not running",))
    parent = parents[0]
    problems = []
    if len(parents) > 1:
        problems.append(f"{len(parents)} keepalived instances running; showing pid {parent.pid}")
    paths = dump_paths(parent.pid, global_defs)
    runtime = KeepalivedRuntime(processes=procs, taken_at=now, config_path=parent.config_path)
    if not request_dumps:
        dumps = tuple(DumpFile(kind, path, "not-requested") for kind, path in paths.items())
        return replace(runtime, dumps=dumps, problems=tuple(problems))
    numbers, note = signals_for(parent.pid)
    problems += [note] if note else []
    before = {kind: _mtime_ns(path) for kind, path in paths.items()}
    sent = time.time() - 0.01
    requested, problem = _request_dumps(parent.pid, numbers, want_vrrp)
    problems += [problem] if problem else []
    wanted = {"data": want_vrrp, "json": want_vrrp, "check_data": want_check}
    files: list[DumpFile] = []
    parsed: dict[str, tuple[Any, ...] | None] = {}
    for kind, path in paths.items():  # data before json: the JSON dump is read only without it
        if not (wanted[kind] and kind in requested):
            files.append(DumpFile(kind, path, "not-requested"))
            continue
        parse = None if kind == "json" and parsed.get("data") is not None else _DUMP_PARSERS[kind]
        dump, parsed[kind] = _read_dump(DumpFile(kind, path, ""), parse, sent, before[kind], wait)
        files.append(dump)
    return replace(
        runtime,
        instances=parsed["data"] if parsed.get("data") is not None else parsed.get("json"),
        virtual_servers=parsed.get("check_data"),
        dumps=tuple(files),
        signal_numbers=tuple(numbers.items()),
        problems=tuple(problems),
    )


#: each dump's parser (``keepalived.json`` only when ``keepalived.data`` gave no instances)
_DUMP_PARSERS: dict[str, Callable[[str], tuple[Any, ...]]] = {
    "data": parse_vrrp_data,
    "check_data": parse_check_data,
    "json": parse_vrrp_json,
}


def _request_dumps(pid: int, numbers: dict[str, int], want_vrrp: bool) -> tuple[set[str], str]:
    """Signal keepalived for its dumps: the kinds asked for, and a problem ("" when none).

    DATA makes both children write (keepalived.data, keepalived_check.data); JSON only the
    VRRP child, and only a build with JSON support has its number."""
    requested: set[str] = set()
    problem = ""
    if numbers.get("DATA") is not None:
        try:
            os.kill(pid, numbers["DATA"])
            requested |= {"data", "check_data"}
        except OSError as exc:
            problem = f"cannot signal keepalived pid {pid}: {exc.strerror}"
    if numbers.get("JSON") is not None and want_vrrp:
        with contextlib.suppress(OSError):
            os.kill(pid, numbers["JSON"])
            requested.add("json")
    return requested, problem


def _read_dump(
    dump: DumpFile,
    parse: Callable[[str], tuple[Any, ...]] | None,
    sent: float,
    before: int | None,
    wait: float,
) -> tuple[DumpFile, tuple[Any, ...] | None]:
    """Wait for keepalived to rewrite ``dump.path`` after the signal, then read and parse it
    (``parse`` None: only its status)."""
    status, mtime = _wait_for(dump.path, sent, wait, before)
    if status == "stale":
        ago = f"{time.time() - (mtime or time.time()):.0f}"
        detail = f"written {ago}s ago, not rewritten after the signal"
        return replace(dump, status=status, mtime=mtime, detail=detail), None
    if status != "fresh":
        return replace(dump, status=status, mtime=mtime), None
    _settle(dump.path, wait)
    try:
        with open(dump.path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
        parsed = None if parse is None else parse(text)
    except (OSError, ValueError) as exc:
        return replace(dump, status="unreadable", mtime=mtime, detail=str(exc)), None
    return replace(dump, status="fresh", mtime=mtime), parsed


def can_signal() -> bool:
    """Whether dumps are requested by default: only root may signal a root keepalived."""
    return os.geteuid() == 0


__all__ = [
    "can_signal",
    "dump_paths",
    "find_processes",
    "own_netns_processes",
    "parse_check_data",
    "parse_vrrp_data",
    "parse_vrrp_json",
    "read_runtime",
    "signal_number",
]
