"""What the agent reads of its host without psutil or pyroute2: /proc and one rtnetlink dump.

Standard library only (part of the self-contained agent file). The dashboard's own readers
(``lvstop.sources.host`` on psutil, ``lvstop.sources.addresses`` on pyroute2) stay as they
are; these are the plain equivalents the agent needs on a director with nothing but python3.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
import time
from typing import Any

# rtnetlink: RTM_GETADDR dump (linux/rtnetlink.h, linux/if_addr.h)
NETLINK_ROUTE = 0
RTM_NEWADDR = 20
RTM_GETADDR = 22
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
IFA_ADDRESS = 1
IFA_LOCAL = 2
_NLMSGHDR = struct.Struct("=IHHII")
_IFADDRMSG = struct.Struct("=BBBBI")
_NLATTR = struct.Struct("=HH")
#: addresses read at most (a director holds a few dozen; the bound keeps a hostile table cheap)
MAX_ADDRESSES = 4096
#: processes looked at at most per scan
MAX_PIDS = 100_000


def _parse_addr_messages(buf: bytes, out: set[str]) -> bool:
    """Add the addresses in one recv's messages to ``out``; True when the dump is done."""
    off = 0
    while off + _NLMSGHDR.size <= len(buf):
        length, msg_type, _flags, _seq, _pid = _NLMSGHDR.unpack_from(buf, off)
        if length < _NLMSGHDR.size or off + length > len(buf):
            return True
        if msg_type == NLMSG_DONE:
            return True
        if msg_type == NLMSG_ERROR:
            (err,) = struct.unpack_from("=i", buf, off + _NLMSGHDR.size)
            if err:
                raise OSError(-err, os.strerror(-err))
            return True
        if msg_type == RTM_NEWADDR and length >= _NLMSGHDR.size + _IFADDRMSG.size:
            family = buf[off + _NLMSGHDR.size]
            pos = off + _NLMSGHDR.size + _IFADDRMSG.size
            end = off + length
            found: dict[int, bytes] = {}
            while pos + _NLATTR.size <= end:
                alen, atype = _NLATTR.unpack_from(buf, pos)
                if alen < _NLATTR.size:
                    break
                if atype in (IFA_ADDRESS, IFA_LOCAL):
                    found[atype] = bytes(buf[pos + 4 : pos + alen])
                pos += (alen + 3) & ~3
            raw = found.get(IFA_LOCAL) or found.get(IFA_ADDRESS)
            if raw is not None and len(out) < MAX_ADDRESSES:
                if family == socket.AF_INET and len(raw) == 4:
                    out.add(str(ipaddress.IPv4Address(raw)))
                elif family == socket.AF_INET6 and len(raw) == 16:
                    out.add(str(ipaddress.IPv6Address(raw)))
        off += (length + 3) & ~3
    return False


def local_addresses() -> frozenset[str]:
    """Every address this network namespace holds (IPv4 and IPv6), one RTM_GETADDR dump."""
    out: set[str] = set()
    with socket.socket(
        socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE
    ) as sock:
        sock.settimeout(5.0)
        sock.bind((0, 0))
        body = _IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
        sock.send(
            _NLMSGHDR.pack(
                _NLMSGHDR.size + len(body), RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, 1, 0
            )
            + body
        )
        for _ in range(10_000):  # bounded: a dump is a few messages
            if _parse_addr_messages(sock.recv(1 << 16), out):
                break
    return frozenset(out)


class CpuMeter:
    """Busy share of all CPUs between two reads of /proc/stat (None on the first read)."""

    def __init__(self) -> None:
        self._last: tuple[int, int] | None = None

    def read(self) -> float | None:
        try:
            with open("/proc/stat", encoding="ascii") as handle:
                fields = [int(x) for x in handle.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        total = sum(fields[:8])
        last, self._last = self._last, (idle, total)
        if last is None or total <= last[1]:
            return None
        return round(100.0 * (1 - (idle - last[0]) / (total - last[1])), 0)


def host_stats(cpu: CpuMeter) -> dict[str, Any]:
    """Load, CPU and memory, rounded (so an idle director's figures rarely change)."""
    out: dict[str, Any] = {"cpu_percent": cpu.read()}
    try:
        with open("/proc/loadavg", encoding="ascii") as handle:
            out["load"] = [round(float(x), 1) for x in handle.read().split()[:3]]
    except (OSError, ValueError):
        out["load"] = None
    try:
        mem: dict[str, int] = {}
        with open("/proc/meminfo", encoding="ascii") as handle:
            for text in handle:
                name, _, rest = text.partition(":")
                if name in ("MemTotal", "MemAvailable"):
                    mem[name] = int(rest.split()[0])
        out["memory_percent"] = round(100.0 * (1 - mem["MemAvailable"] / mem["MemTotal"]), 0)
    except (OSError, ValueError, KeyError, ZeroDivisionError):
        out["memory_percent"] = None
    return out


def _boot_time() -> float:
    with open("/proc/stat", encoding="ascii") as handle:
        for text in handle:
            if text.startswith("btime "):
                return float(text.split()[1])
    return 0.0


def keepalived_process_infos() -> list[dict[str, Any]]:
    """``keepalived_state.scan_processes()``'s dicts, read from /proc (no psutil): every live
    process named keepalived with its pid, ppid, cmdline, start time and uids."""
    from lvstop.sources.keepalived_state import untrusted_reason

    out: list[dict[str, Any]] = []
    try:
        pids = [int(name) for name in os.listdir("/proc") if name.isdigit()][:MAX_PIDS]
        boot = _boot_time()
        ticks = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return out
    for pid in pids:
        try:
            with open(f"/proc/{pid}/comm", "rb") as handle:
                if handle.read().strip() != b"keepalived":
                    continue
            with open(f"/proc/{pid}/stat", "rb") as handle:
                stat = handle.read()
            # the name is in parentheses and may hold anything: split after the last ')'
            rest = stat[stat.rindex(b")") + 2 :].split()
            if rest[0] == b"Z":
                continue
            ppid, start_ticks = int(rest[1]), int(rest[19])
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                cmdline = [
                    a.decode("utf-8", "replace") for a in handle.read(65536).split(b"\0") if a
                ]
            uids: tuple[int, ...] = ()
            with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as handle:
                for text in handle:
                    if text.startswith("Uid:"):
                        uids = tuple(int(x) for x in text.split()[1:4])
                        break
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile, or unreadable
        out.append(
            {
                "pid": pid,
                "ppid": ppid,
                "cmdline": cmdline,
                "create_time": boot + start_ticks / ticks,
                "uids": uids,
                "untrusted": untrusted_reason(pid, uids),
            }
        )
    return out


def os_facts() -> dict[str, Any]:
    uname = os.uname()
    return {"host": uname.nodename, "kernel": uname.release, "time": time.time()}
