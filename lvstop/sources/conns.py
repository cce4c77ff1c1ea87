"""The IPVS connection table, from /proc/net/ip_vs_conn, on demand and off the event loop.

Reading it is expensive and grows quadratically with its size: the kernel's seq_file hands
out at most one page per read() and re-walks its hash table from the start for every page
(100,000 entries take seconds in the lab). So it is never part of the regular poll: a front
end reads it only while the connection view is open, in a worker thread, and can show
progress (``progress(entries_so_far)``).

Two products: the entries themselves (``ConnEntry``, for the connection view) and counts per
(protocol, virtual, real server, state) — the aggregate, which skips building an object per
line and is what big tables need.

Line formats (``ip_vs_conn_seq_show``)::

    Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData
    TCP 0A000564 AA18 0A000560 22B8 0A00055B 22B8 SYN_RECV         58
    TCP 2001:0db8:0000:0000:0000:0000:0000:0100 AA18 2001:0db8:…:0001 0035 … UDP  58 sip 1234

IPv4 addresses are 8 hex digits, IPv6 ones are the full colon form; ports are 4 hex digits;
expiry is in seconds; the real server's family may differ from the client's.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping

from lvstop.errors import LvstopError
from lvstop.model.ipvs import (
    ConnCount,
    ConnEntry,
    IpvsSnapshot,
    RealServer,
    Service,
    endpoint,
)

PROC_IP_VS_CONN = "/proc/net/ip_vs_conn"
HEADER_PREFIX = "Pro FromIP"
READ_SIZE = 1 << 16

Progress = Callable[[int], None]

_ADDR: dict[str, str] = {}


def hex_address(text: str) -> str:
    """``0A000564`` -> ``10.0.5.100``; ``2001:0db8:…`` -> ``2001:db8::…`` (cached)."""
    out = _ADDR.get(text)
    if out is None:
        if len(_ADDR) > 500_000:
            _ADDR.clear()
        try:
            if ":" in text:
                out = str(ipaddress.IPv6Address(text))
            else:
                out = str(ipaddress.IPv4Address(int(text, 16)))
        except ValueError:
            raise ValueError(f"bad address {text!r}") from None
        _ADDR[text] = out
    return out


def parse_conn_line(line: str) -> ConnEntry:
    """One table line -> ConnEntry; ValueError with the reason on a malformed line."""
    parts = line.split()
    if len(parts) < 9:
        raise ValueError(f"expected at least 9 fields, got {len(parts)}")
    pe_name = parts[9] if len(parts) > 9 else None
    pe_data = " ".join(parts[10:]) if len(parts) > 10 else None
    return ConnEntry(
        protocol=parts[0].lower(),
        client_address=hex_address(parts[1]),
        client_port=int(parts[2], 16),
        virtual_address=hex_address(parts[3]),
        virtual_port=int(parts[4], 16),
        real_address=hex_address(parts[5]),
        real_port=int(parts[6], 16),
        state=parts[7],
        expires=int(parts[8]),
        pe_name=pe_name,
        pe_data=pe_data,
    )


def parse_conn_table(text: str) -> tuple[list[ConnEntry], list[str]]:
    """All entries of a table text, and one warning per line that could not be parsed."""
    entries: list[ConnEntry] = []
    warnings: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith(HEADER_PREFIX):
            continue
        try:
            entries.append(parse_conn_line(line))
        except ValueError as exc:
            warnings.append(f"{PROC_IP_VS_CONN} line {number}: {exc}")
    return entries, warnings


# protocol, virtual address, virtual port, real address, real port, state
_AGG = re.compile(r"^(\S+) \S+ \S+ (\S+) (\S+) (\S+) (\S+) (\S+) ", re.MULTILINE)


#: a fast-path key: protocol (3 chars) + the fixed-width IPv4 columns virtual..state
_FAST_KEY = re.compile(
    r"(TCP|UDP) ([0-9A-F]{8}) ([0-9A-F]{4}) ([0-9A-F]{8}) ([0-9A-F]{4}) "
    r"([A-Z_0-9]+) +"
)


def _fast_key(line: str) -> str:
    # "TCP 0A000564 AA18 0A000560 22B8 0A00055B 22B8 SYN_RECV         58": the client
    # (columns 4-16) dropped, the state column (46-56, "%-11s") kept with its padding and
    # the separator after it (a longer state overflows it: that key fails the check)
    return line[:3] + line[17:58]


def aggregate_text(text: str) -> Counter[tuple[str, str, str, str, str, str]]:
    """Raw counts keyed by the table's own (hex) fields: (protocol, virtual address, virtual
    port, real address, real port, state).

    Fast path: IPv4 lines of TCP/UDP have fixed columns, so each line is reduced to one
    slice and counted in C (``Counter``); only the few distinct keys are then checked and
    split. Lines the fast path cannot take (IPv6, SCTP, …) give keys that fail the check and
    are counted again by a regular expression (a second pass only when such lines exist).
    """
    lines = text.split("\n")
    fast = Counter(map(_fast_key, lines))
    out: Counter[tuple[str, str, str, str, str, str]] = Counter()
    slow: set[str] = set()
    for key, n in fast.items():
        m = _FAST_KEY.fullmatch(key)
        if m is None:
            if key and not key.startswith("Pro"):  # not the header or the final ""
                slow.add(key)
        else:
            out[m.groups()] += n  # type: ignore[index]
    if slow:
        slow_lines = "\n".join(line for line in lines if _fast_key(line) in slow)
        out.update(_AGG.findall(slow_lines))
    return out


def decode_counts(raw: Mapping[tuple[str, str, str, str, str, str], int]) -> list[ConnCount]:
    """Raw (hex) keys -> ConnCount, merged (two spellings of one key add up), sorted."""
    merged: Counter[tuple[str, str, int, str, int, str]] = Counter()
    for (proto, vaddr, vport, daddr, dport, state), n in raw.items():
        if proto == "Pro":  # the header line
            continue
        try:
            key = (
                proto.lower(),
                hex_address(vaddr),
                int(vport, 16),
                hex_address(daddr),
                int(dport, 16),
                state,
            )
        except ValueError:
            continue
        merged[key] += n
    return [ConnCount(*key, n) for key, n in sorted(merged.items())]


def read_table_text(path: str = PROC_IP_VS_CONN, progress: Progress | None = None) -> str:
    """The whole table file; ``progress(lines_so_far)`` after every ~64 KiB. Blocking."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        if path == PROC_IP_VS_CONN:
            raise LvstopError("no IPVS in this kernel: modprobe ip_vs") from None
        raise LvstopError(f"{path} does not exist") from None
    except PermissionError:
        raise LvstopError(f"cannot read {path}: permission denied") from None
    chunks: list[bytes] = []
    lines = 0
    since = 0
    try:
        while True:
            chunk = os.read(fd, READ_SIZE)
            if not chunk:
                break
            chunks.append(chunk)
            if progress is not None:
                lines += chunk.count(b"\n")
                since += len(chunk)
                if since >= READ_SIZE:
                    progress(max(lines - 1, 0))  # minus the header line
                    since = 0
    except OSError as exc:
        raise LvstopError(f"cannot read {path}: {exc.strerror}") from None
    finally:
        os.close(fd)
    data = b"".join(chunks).decode("ascii", "replace")
    if progress is not None:
        progress(max(data.count("\n") - 1, 0))
    return data


def read_conns(
    path: str = PROC_IP_VS_CONN, progress: Progress | None = None
) -> tuple[list[ConnEntry], list[str]]:
    """Every entry (for the connection view) and warnings for lines that did not parse."""
    return parse_conn_table(read_table_text(path, progress))


def read_conn_counts(
    path: str = PROC_IP_VS_CONN, progress: Progress | None = None
) -> list[ConnCount]:
    """Counts per (protocol, virtual, real server, state), the cheap way."""
    return decode_counts(aggregate_text(read_table_text(path, progress)))


async def conns(
    path: str = PROC_IP_VS_CONN, progress: Progress | None = None
) -> tuple[list[ConnEntry], list[str]]:
    """``read_conns`` in a worker thread (progress is called from that thread)."""
    return await asyncio.to_thread(read_conns, path, progress)


async def conn_counts(
    path: str = PROC_IP_VS_CONN, progress: Progress | None = None
) -> list[ConnCount]:
    """``read_conn_counts`` in a worker thread (progress is called from that thread)."""
    return await asyncio.to_thread(read_conn_counts, path, progress)


def counts_by_key(
    counts: Iterable[ConnCount], snapshot: IpvsSnapshot
) -> dict[tuple[str, str, str], int]:
    """Counts keyed by the snapshot's own keys: (service key, real-server key, state).

    A connection names its virtual address, not its service: a firewall-mark service is found
    through its real server (the one fwmark service holding that real server); anything that
    matches no service of the snapshot is keyed ``("?", "?-><real endpoint>", state)``.
    """
    by_real: dict[str, set[str]] = {}
    for fw_svc in snapshot.services:
        if fw_svc.is_fwmark:
            for fw_rs in fw_svc.real_servers:
                by_real.setdefault(fw_rs.endpoint, set()).add(fw_svc.key)
                by_real.setdefault(endpoint(fw_rs.address, 0), set()).add(fw_svc.key)
    out: Counter[tuple[str, str, str]] = Counter()
    for c in counts:
        svc_key = f"{c.protocol}:{c.virtual_endpoint}"
        svc: Service | None = snapshot.service(svc_key)
        if svc is None:
            owners = by_real.get(c.real_endpoint) or by_real.get(endpoint(c.real_address, 0))
            svc_key = next(iter(owners)) if owners and len(owners) == 1 else "?"
            svc = snapshot.service(svc_key)
        rs: RealServer | None = None
        if svc is not None:
            rs = svc.real_server(c.real_endpoint) or svc.real_server(endpoint(c.real_address, 0))
        rs_key = rs.key if rs is not None else f"{svc_key}->{c.real_endpoint}"
        out[(svc_key, rs_key, c.state)] += c.count
    return dict(out)
