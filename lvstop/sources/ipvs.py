"""Read the kernel's IPVS state over generic netlink, with lvstop's own decoder.

Why not pyroute2 for this? pyroute2 decodes the messages fine, but getting values *out* of
them (``from_message``, ``get_attr``, its NLA key transforms) costs 230–430 µs per real server:
a 1,000-service × 10-server table takes seconds per poll, unusable at 1 Hz. Here each message
kind has one plain decoder (``decode_service_plain``, ``decode_dest_plain``,
``timeouts_from_reply``, ``daemon_from_message``): an attribute walk over one table of
attribute types taken from the kernel header (include/uapi/linux/ip_vs.h) and precompiled
``struct.Struct``s. Service and real-server messages as Linux writes them are read whole with
one Struct instead, their attribute headers checked first (``decode_service``,
``decode_dest``; tests/unit/test_ipvs_decode.py proves them equal to the plain decoders). The
rest of the speed comes from doing less work: a message byte-for-byte equal to one of the
previous poll gives back that poll's object. (pyroute2 is still fine for rare work: family
resolution, address/link events, writes.)

A snapshot is consistent: every dump the kernel flags NLM_F_DUMP_INTR is re-run; a service
deleted between the service dump and its real-server dump is dropped (its real-server dump
is empty and a GET_SERVICE for it answers ESRCH).
"""

from __future__ import annotations

import asyncio
import errno
import functools
import gc
import ipaddress
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Collection, Container, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias, TypeVar

from lvstop.errors import LvstopError
from lvstop.model.ipvs import (
    ZERO_STATS,
    Counters,
    IpvsSnapshot,
    RealServer,
    Service,
    ServiceCounters,
    Stats,
    SyncDaemon,
    Timeouts,
    service_key,
)
from lvstop.sources import genl
from lvstop.sources.genl import GenlSocket, NetlinkError

IPVS_GENL_NAME = "IPVS"
IPVS_GENL_VERSION = 1

# commands
CMD_NEW_SERVICE = 1
CMD_SET_SERVICE = 2
CMD_DEL_SERVICE = 3
CMD_GET_SERVICE = 4
CMD_NEW_DEST = 5
CMD_SET_DEST = 6
CMD_DEL_DEST = 7
CMD_GET_DEST = 8
CMD_NEW_DAEMON = 9
CMD_DEL_DAEMON = 10
CMD_GET_DAEMON = 11
CMD_SET_CONFIG = 12
CMD_GET_CONFIG = 13
CMD_GET_INFO = 15

# first-level attributes
CMD_ATTR_SERVICE = 1
CMD_ATTR_DEST = 2
CMD_ATTR_DAEMON = 3
CMD_ATTR_TIMEOUT_TCP = 4
CMD_ATTR_TIMEOUT_TCP_FIN = 5
CMD_ATTR_TIMEOUT_UDP = 6

# service attributes
SVC_ATTR_AF = 1
SVC_ATTR_PROTOCOL = 2
SVC_ATTR_ADDR = 3
SVC_ATTR_PORT = 4
SVC_ATTR_FWMARK = 5
SVC_ATTR_SCHED_NAME = 6
SVC_ATTR_FLAGS = 7
SVC_ATTR_TIMEOUT = 8
SVC_ATTR_NETMASK = 9
SVC_ATTR_STATS = 10
SVC_ATTR_PE_NAME = 11
SVC_ATTR_STATS64 = 12

# destination attributes
DEST_ATTR_ADDR = 1
DEST_ATTR_PORT = 2
DEST_ATTR_FWD_METHOD = 3
DEST_ATTR_WEIGHT = 4
DEST_ATTR_U_THRESH = 5
DEST_ATTR_L_THRESH = 6
DEST_ATTR_ACTIVE_CONNS = 7
DEST_ATTR_INACT_CONNS = 8
DEST_ATTR_PERSIST_CONNS = 9
DEST_ATTR_STATS = 10
DEST_ATTR_ADDR_FAMILY = 11
DEST_ATTR_STATS64 = 12
DEST_ATTR_TUN_TYPE = 13
DEST_ATTR_TUN_PORT = 14
DEST_ATTR_TUN_FLAGS = 15

# daemon attributes
DAEMON_ATTR_STATE = 1
DAEMON_ATTR_MCAST_IFN = 2
DAEMON_ATTR_SYNC_ID = 3
DAEMON_ATTR_SYNC_MAXLEN = 4
DAEMON_ATTR_MCAST_GROUP = 5
DAEMON_ATTR_MCAST_GROUP6 = 6
DAEMON_ATTR_MCAST_PORT = 7
DAEMON_ATTR_MCAST_TTL = 8

# service flags
SVC_F_PERSISTENT = 0x1
SVC_F_ONEPACKET = 0x4
SVC_F_SCHED1 = 0x8
SVC_F_SCHED2 = 0x10
SVC_F_SCHED3 = 0x20

AF_INET = socket.AF_INET
AF_INET6 = socket.AF_INET6
FAMILY_NAMES = {AF_INET: "inet", AF_INET6: "inet6"}
FAMILY_NUMBERS = {"inet": AF_INET, "inet6": AF_INET6}
PROTOCOL_NAMES = {6: "tcp", 17: "udp", 132: "sctp"}
PROTOCOL_NUMBERS = {"tcp": 6, "udp": 17, "sctp": 132}
#: IP_VS_CONN_F_FWD_MASK values
FORWARD_NAMES = ("masq", "local", "tunnel", "route", "bypass", "fwd-5", "fwd-6", "fwd-7")
FORWARD_NUMBERS = {"masq": 0, "local": 1, "tunnel": 2, "route": 3, "bypass": 4}
TUNNEL_TYPES = {0: "ipip", 1: "gue", 2: "gre"}
TUNNEL_TYPE_NUMBERS = {v: k for k, v in TUNNEL_TYPES.items()}

ERR_PERMISSION = "needs root or CAP_NET_ADMIN"
ERR_NO_IPVS = "no IPVS in this kernel: modprobe ip_vs"


class IpvsError(LvstopError):
    """Reading or writing IPVS failed; ``str()`` is the one-line reason."""

    def __init__(self, message: str, err: int = 0) -> None:
        super().__init__(message)
        self.errno = err


class IpvsPermissionError(IpvsError):
    pass


class IpvsUnavailableError(IpvsError):
    pass


def ipvs_error(exc: NetlinkError, what: str = "") -> IpvsError:
    """Turn a netlink failure into the one-line message users see."""
    if exc.errno in (errno.EPERM, errno.EACCES):
        return IpvsPermissionError(ERR_PERMISSION, exc.errno)
    prefix = f"{what}: " if what else ""
    return IpvsError(
        f"{prefix}{exc}" if what and not str(exc).startswith(what) else str(exc), exc.errno
    )


# ---------------------------------------------------------------------------------------------
# Decoding: one table of attribute types (from include/uapi/linux/ip_vs.h) and one plain
# function per message kind.
#
# A table maps an attribute type to how its payload is read: a precompiled Struct (the payload
# must be exactly that size), STRING (NUL-terminated text) or a nested table. An attribute of
# an unknown type or of another size is not used (read as raw bytes by ``attr_values``).

STRING = "string"
AttrKind: TypeAlias = "struct.Struct | str | dict[int, AttrKind]"
AttrTable: TypeAlias = dict[int, AttrKind]

U8 = struct.Struct("=B")
U16 = struct.Struct("=H")
U32 = struct.Struct("=I")
U64 = struct.Struct("=Q")
ADDR = struct.Struct("16s")  # union nf_inet_addr: an IPv4 address fills its first 4 bytes
ADDR4 = struct.Struct("4s")
FLAGS = struct.Struct("=II")  # struct ip_vs_flags: flags, mask

#: IPVS_STATS_ATTR_*: struct ip_vs_stats_user as attributes (bytes are u64, the rest u32)
STATS32_ATTRS: AttrTable = {
    1: U32,
    2: U32,
    3: U32,
    4: U64,
    5: U64,
    6: U32,
    7: U32,
    8: U32,
    9: U32,
    10: U32,
}
#: the same ten counters, all u64 (IPVS_SVC_ATTR_STATS64 / IPVS_DEST_ATTR_STATS64)
STATS64_ATTRS: AttrTable = {i: U64 for i in range(1, 11)}
SERVICE_ATTRS: AttrTable = {
    SVC_ATTR_AF: U16,
    SVC_ATTR_PROTOCOL: U16,
    SVC_ATTR_ADDR: ADDR,
    SVC_ATTR_PORT: U16,
    SVC_ATTR_FWMARK: U32,
    SVC_ATTR_SCHED_NAME: STRING,
    SVC_ATTR_FLAGS: FLAGS,
    SVC_ATTR_TIMEOUT: U32,
    SVC_ATTR_NETMASK: U32,
    SVC_ATTR_STATS: STATS32_ATTRS,
    SVC_ATTR_PE_NAME: STRING,
    SVC_ATTR_STATS64: STATS64_ATTRS,
}
DEST_ATTRS: AttrTable = {
    DEST_ATTR_ADDR: ADDR,
    DEST_ATTR_PORT: U16,
    DEST_ATTR_FWD_METHOD: U32,
    DEST_ATTR_WEIGHT: U32,
    DEST_ATTR_U_THRESH: U32,
    DEST_ATTR_L_THRESH: U32,
    DEST_ATTR_ACTIVE_CONNS: U32,
    DEST_ATTR_INACT_CONNS: U32,
    DEST_ATTR_PERSIST_CONNS: U32,
    DEST_ATTR_STATS: STATS32_ATTRS,
    DEST_ATTR_ADDR_FAMILY: U16,
    DEST_ATTR_STATS64: STATS64_ATTRS,
    DEST_ATTR_TUN_TYPE: U8,
    DEST_ATTR_TUN_PORT: U16,
    DEST_ATTR_TUN_FLAGS: U16,
}
DAEMON_ATTRS: AttrTable = {
    DAEMON_ATTR_STATE: U32,
    DAEMON_ATTR_MCAST_IFN: STRING,
    DAEMON_ATTR_SYNC_ID: U32,
    DAEMON_ATTR_SYNC_MAXLEN: U16,
    DAEMON_ATTR_MCAST_GROUP: ADDR4,
    DAEMON_ATTR_MCAST_GROUP6: ADDR,
    DAEMON_ATTR_MCAST_PORT: U16,
    DAEMON_ATTR_MCAST_TTL: U8,
}
#: IPVS_CMD_ATTR_*: the attributes of a message
MESSAGE_ATTRS: AttrTable = {
    CMD_ATTR_SERVICE: SERVICE_ATTRS,
    CMD_ATTR_DEST: DEST_ATTRS,
    CMD_ATTR_DAEMON: DAEMON_ATTRS,
    CMD_ATTR_TIMEOUT_TCP: U32,
    CMD_ATTR_TIMEOUT_TCP_FIN: U32,
    CMD_ATTR_TIMEOUT_UDP: U32,
}

Buffer: TypeAlias = "bytes | bytearray | memoryview"
#: a decoded attribute: an integer, a string, raw bytes (an unknown type or a wrong size), a
#: struct's values (FLAGS) or a nest's attributes
AttrValue: TypeAlias = "int | str | bytes | tuple[int, ...] | dict[int, AttrValue]"


def attr_values(buf: Buffer, start: int, end: int, table: AttrTable) -> dict[int, AttrValue]:
    """The attributes in ``buf[start:end]`` by type, read as ``table`` says: a nested table
    gives a dict, STRING a str, a Struct its value (a tuple for FLAGS); an attribute of an
    unknown type or of the wrong size gives its raw bytes. Malformed: NetlinkError."""
    out: dict[int, AttrValue] = {}
    pos = start
    while pos + 4 <= end:
        nla_len, nla_type = genl.NLATTR.unpack_from(buf, pos)
        if nla_len < 4 or pos + nla_len > end:
            raise NetlinkError(f"malformed IPVS reply (attribute at offset {pos})")
        nla_type &= genl.NLA_TYPE_MASK
        payload = pos + 4
        size = nla_len - 4
        kind = table.get(nla_type)
        value: AttrValue
        if isinstance(kind, dict):
            value = attr_values(buf, payload, payload + size, kind)
        elif kind == STRING and size > 0:
            value = decode_str(bytes(buf[payload : payload + size]))
        elif isinstance(kind, struct.Struct) and kind.size == size:
            unpacked = kind.unpack_from(buf, payload)
            value = unpacked[0] if len(unpacked) == 1 else unpacked
        else:
            value = bytes(buf[payload : payload + size])
        out[nla_type] = value
        pos += (nla_len + 3) & ~3
    return out


def message_attrs(msg: Buffer, off: int = 0, length: int | None = None) -> dict[int, AttrValue]:
    """The attributes of one generic netlink message (after its netlink and genl headers)."""
    end = len(msg) if length is None else off + length
    return attr_values(msg, off + genl.HDRLEN, end, MESSAGE_ATTRS)


def _int(attrs: dict[int, AttrValue], attr: int, default: int = 0) -> int:
    """An integer attribute, or ``default`` when absent or of the wrong size (raw bytes)."""
    value = attrs.get(attr)
    return value if isinstance(value, int) else default


def _raw(attrs: dict[int, AttrValue], attr: int, size: int) -> bytes | None:
    value = attrs.get(attr)
    return value if isinstance(value, bytes) and len(value) == size else None


def stats_from(nest: AttrValue | None) -> Stats | None:
    """The counters of a decoded stats nest (absent ones 0); None when it has none."""
    if not isinstance(nest, dict):
        return None
    values = [nest.get(i) for i in range(1, 11)]
    if not any(isinstance(v, int) for v in values):
        return None
    return Stats(*(v if isinstance(v, int) else 0 for v in values))


def swap16(value: int) -> int:
    """A be16 read as native u16, back to its value."""
    return ((value & 0xFF) << 8) | (value >> 8) if LITTLE_ENDIAN else value


LITTLE_ENDIAN = sys.byteorder == "little"
FWD_TUNNEL = FORWARD_NUMBERS["tunnel"]


def make_real_server(
    raw: bytes,
    port: int,
    forward: int,
    weight: int,
    tun_type: int,
    tun_port: int,
    tun_flags: int,
    upper: int,
    lower: int,
    active: int,
    inactive: int,
    persistent: int,
    af: int,
    stats: Stats,
    key: str,
) -> RealServer:
    """A RealServer from its attribute values, in the order Linux writes them (port and
    tunnel port: big-endian, read as native u16)."""
    forward &= 7
    tunnel = forward == FWD_TUNNEL
    return RealServer(
        format_address(af, raw),
        ((port & 0xFF) << 8) | (port >> 8) if LITTLE_ENDIAN else port,
        "inet6" if af == AF_INET6 else "inet",
        FORWARD_NAMES[forward],
        weight,
        upper,
        lower,
        active,
        inactive,
        persistent,
        stats,
        key,
        TUNNEL_TYPES.get(tun_type) if tunnel else None,
        swap16(tun_port) if tunnel else 0,
        tunnel_flag_names(tun_flags) if tunnel else (),
    )


def decode_dest_plain(
    buf: Buffer, off: int, length: int, service_key: str, service_af: int
) -> RealServer | None:
    """One real-server message (a GET_DEST dump reply) -> RealServer; None: not a real
    server we can name (no address or port). Malformed: NetlinkError."""
    d = message_attrs(buf, off, length).get(CMD_ATTR_DEST)
    if not isinstance(d, dict):
        return None
    raw = _raw(d, DEST_ATTR_ADDR, 16)
    port = d.get(DEST_ATTR_PORT)
    if raw is None or not isinstance(port, int):
        return None
    stats = stats_from(d.get(DEST_ATTR_STATS64)) or stats_from(d.get(DEST_ATTR_STATS)) or ZERO_STATS
    return make_real_server(
        raw,
        port,
        forward=_int(d, DEST_ATTR_FWD_METHOD),
        weight=_int(d, DEST_ATTR_WEIGHT),
        tun_type=_int(d, DEST_ATTR_TUN_TYPE, -1),
        tun_port=_int(d, DEST_ATTR_TUN_PORT),
        tun_flags=_int(d, DEST_ATTR_TUN_FLAGS),
        upper=_int(d, DEST_ATTR_U_THRESH),
        lower=_int(d, DEST_ATTR_L_THRESH),
        active=_int(d, DEST_ATTR_ACTIVE_CONNS),
        inactive=_int(d, DEST_ATTR_INACT_CONNS),
        persistent=_int(d, DEST_ATTR_PERSIST_CONNS),
        af=_int(d, DEST_ATTR_ADDR_FAMILY, service_af),
        stats=stats,
        key=service_key,
    )


@dataclass(frozen=True, slots=True)
class ServiceHead:
    """A service message decoded: the service without its real servers, the attributes that
    identify it in requests (``svc_ident``), its address family and key."""

    service: Service
    ident: bytes
    af: int
    key: str


def make_service_head(s: dict[int, AttrValue]) -> ServiceHead | None:
    """A ServiceHead from the decoded attributes of a service nest (stats apart); None: not
    a service we can name (no address family, neither a fwmark nor protocol, address and
    port)."""
    af = s.get(SVC_ATTR_AF)
    if not isinstance(af, int):
        return None
    family = "inet6" if af == AF_INET6 else "inet"
    raw = _raw(s, SVC_ATTR_ADDR, 16)
    proto, port = s.get(SVC_ATTR_PROTOCOL), s.get(SVC_ATTR_PORT)
    address: str | None = None
    port_value: int | None = None
    fwmark = s.get(SVC_ATTR_FWMARK)
    if isinstance(fwmark, int):
        protocol = "fwmark"
        ident = svc_ident(af, fwmark=fwmark)
    elif isinstance(proto, int) and isinstance(port, int) and raw is not None:
        protocol = PROTOCOL_NAMES.get(proto) or f"proto-{proto}"
        address, port_value, fwmark = format_address(af, raw), swap16(port), None
        ident = svc_ident(af, proto, raw, port)
    else:
        return None
    scheduler = s.get(SVC_ATTR_SCHED_NAME)
    scheduler = scheduler if isinstance(scheduler, str) else ""
    flags = s.get(SVC_ATTR_FLAGS)
    netmask = _int(s, SVC_ATTR_NETMASK, 0xFFFFFFFF)
    pe_name = s.get(SVC_ATTR_PE_NAME)
    service = Service(
        protocol,
        family,
        address,
        port_value,
        fwmark,
        scheduler,
        service_flag_names(flags[0] if isinstance(flags, tuple) else 0, scheduler),
        _int(s, SVC_ATTR_TIMEOUT),
        # IPv6: a prefix length already; IPv4: a netmask, whose bits count in any byte order
        netmask if af == AF_INET6 else netmask.bit_count(),
        pe_name if isinstance(pe_name, str) else None,
    )
    return ServiceHead(
        service, ident, af, service_key(protocol, family, address, port_value, fwmark)
    )


def decode_service_plain(buf: Buffer, off: int, length: int) -> tuple[ServiceHead, Stats] | None:
    """One service message (a GET_SERVICE reply) -> (its ServiceHead, its counters), or None
    (see ``make_service_head``). Malformed: NetlinkError."""
    s = message_attrs(buf, off, length).get(CMD_ATTR_SERVICE)
    if not isinstance(s, dict):
        return None
    head = make_service_head(s)
    if head is None:
        return None
    stats = stats_from(s.get(SVC_ATTR_STATS64)) or stats_from(s.get(SVC_ATTR_STATS)) or ZERO_STATS
    return head, stats


# -- messages as Linux writes them, read whole --------------------------------------------------
#
# The plain decoders walk a message attribute by attribute: some 45 attributes per real server,
# too slow for a 20,000-server table polled every second. Linux writes every message of a
# kind with the same attributes in the same order (net/netfilter/ipvs/ip_vs_ctl.c:
# ip_vs_genl_fill_dest, ip_vs_genl_fill_stats, ip_vs_genl_fill_stats64), so such a message
# is read with ONE precompiled Struct, and its attribute headers are compared with the
# expected ones before any value is used. Anything else (another kernel, another order, a
# missing attribute) goes to the plain decoder. tests/unit/test_ipvs_decode.py proves both
# give the same result, on recorded and on generated messages.

STATS_ATTR_PAD = 11  # IPVS_STATS_ATTR_PAD: aligns the u64 payload that follows
#: Struct kinds or nested orders, in the order Linux writes them
KernelOrder: TypeAlias = "tuple[tuple[int, struct.Struct | KernelOrder], ...]"
KERNEL_STATS32: KernelOrder = tuple((i, U64 if i in (4, 5) else U32) for i in range(1, 11))
KERNEL_STATS64: KernelOrder = tuple((i, U64) for i in range(1, 11))
KERNEL_DEST: KernelOrder = (
    (
        CMD_ATTR_DEST,
        (
            (DEST_ATTR_ADDR, ADDR),
            (DEST_ATTR_PORT, U16),
            (DEST_ATTR_FWD_METHOD, U32),
            (DEST_ATTR_WEIGHT, U32),
            (DEST_ATTR_TUN_TYPE, U8),
            (DEST_ATTR_TUN_PORT, U16),
            (DEST_ATTR_TUN_FLAGS, U16),
            (DEST_ATTR_U_THRESH, U32),
            (DEST_ATTR_L_THRESH, U32),
            (DEST_ATTR_ACTIVE_CONNS, U32),
            (DEST_ATTR_INACT_CONNS, U32),
            (DEST_ATTR_PERSIST_CONNS, U32),
            (DEST_ATTR_ADDR_FAMILY, U16),
            (DEST_ATTR_STATS, KERNEL_STATS32),
            (DEST_ATTR_STATS64, KERNEL_STATS64),
        ),
    ),
)


@dataclass(frozen=True, slots=True)
class KernelLayout:
    """One attribute sequence as Linux writes it: a Struct reading its values (in the order
    Linux writes them), and its attribute headers as a bit mask over the bytes (``expected``:
    their values there)."""

    struct: struct.Struct
    mask: int
    expected: int

    def read(self, buf: Buffer, pos: int, size: int, whole: bool = True) -> tuple[Any, ...] | None:
        """The values in ``buf[pos:pos+size]`` (``whole``: all of it, else its start),
        or None if it is not this layout: every attribute header is checked first (the bytes
        as one int, masked and compared: one C operation for them all)."""
        n = self.struct.size
        if size != n and (whole or size < n):
            return None
        if int.from_bytes(buf[pos : pos + n], "little") & self.mask != self.expected:
            return None
        return self.struct.unpack_from(buf, pos)


def kernel_layout(
    order: KernelOrder, pad_from: int | None, skip: tuple[int, ...] | None = None
) -> KernelLayout:
    """The layout of ``order``, the values of the nest at path ``skip`` not read (a decoder
    takes the 64-bit counters, not the 32-bit ones). ``pad_from``: None when the kernel pads
    nothing (machines with efficient unaligned access); else the sequence start's offset
    mod 8, from which ``nla_put_u64_64bit`` puts a PAD attribute before each u64 attribute
    whose header would start 8-aligned (so that its payload is)."""
    fmt = ["="]
    headers: dict[int, bytes] = {}  # offset -> the header expected there

    def emit(seq: KernelOrder, path: tuple[int, ...], start: int) -> int:
        pos = start
        for attr, kind in seq:
            fmt.append("4x")
            if isinstance(kind, tuple):
                size = emit(kind, (*path, attr), pos + 4)
                headers[pos] = genl.NLATTR.pack(4 + size, attr)
                pos += 4 + size
                continue
            if kind is U64 and pad_from is not None and (pad_from + pos) % 8 == 0:
                headers[pos] = genl.NLATTR.pack(4, STATS_ATTR_PAD)
                fmt.append("4x")
                pos += 4
            headers[pos] = genl.NLATTR.pack(4 + kind.size, attr)
            padded = genl.align4(kind.size)
            if path == skip:
                fmt.append(f"{padded}x")
            else:
                pad = padded - kind.size
                fmt.append(kind.format.lstrip("=") + (f"{pad}x" if pad else ""))
            pos += 4 + padded
        return pos - start

    size = emit(order, (), 0)
    mask = bytearray(size)
    expected = bytearray(size)
    for pos, header in headers.items():
        mask[pos : pos + 4] = b"\xff" * 4
        expected[pos : pos + 4] = header
    return KernelLayout(
        struct.Struct("".join(fmt)),
        int.from_bytes(mask, "little"),
        int.from_bytes(expected, "little"),
    )


def kernel_layouts(
    order: KernelOrder, skip: tuple[int, ...] | None = None
) -> dict[int, tuple[KernelLayout, ...]]:
    """The layouts Linux writes ``order`` in (unpadded, or padded from either alignment), by
    their size."""
    by_size: dict[int, tuple[KernelLayout, ...]] = {}
    for pad_from in (None, 0, 4):
        layout = kernel_layout(order, pad_from, skip)
        by_size[layout.struct.size] = (*by_size.get(layout.struct.size, ()), layout)
    return by_size


#: a real-server message: (address, port, ..., address family, the 10 counters of STATS64)
DEST_LAYOUTS = kernel_layouts(KERNEL_DEST, skip=(CMD_ATTR_DEST, DEST_ATTR_STATS))


def decode_dest(
    buf: Buffer, off: int, length: int, service_key: str, service_af: int
) -> RealServer | None:
    """``decode_dest_plain``, reading a message as Linux writes it whole."""
    start = off + genl.HDRLEN
    size = off + length - start
    for layout in DEST_LAYOUTS.get(size, ()):
        v = layout.read(buf, start, size)
        if v is not None:
            return make_real_server(
                v[0],
                v[1],
                v[2],
                v[3],
                v[4],
                v[5],
                v[6],
                v[7],
                v[8],
                v[9],
                v[10],
                v[11],
                v[12],
                Stats(*v[13:]),
                service_key,
            )
    return decode_dest_plain(buf, off, length, service_key, service_af)


#: a service message as Linux writes it (ip_vs_genl_fill_service): its identity, first
KERNEL_SVC_VIP: KernelOrder = (
    (SVC_ATTR_AF, U16),
    (SVC_ATTR_PROTOCOL, U16),
    (SVC_ATTR_ADDR, ADDR),
    (SVC_ATTR_PORT, U16),
)
KERNEL_SVC_FWMARK: KernelOrder = ((SVC_ATTR_AF, U16), (SVC_ATTR_FWMARK, U32))
#: ... then the scheduler's name and the persistence engine's if any (strings), then these
KERNEL_SVC_TAIL: KernelOrder = (
    (SVC_ATTR_FLAGS, FLAGS),
    (SVC_ATTR_TIMEOUT, U32),
    (SVC_ATTR_NETMASK, U32),
    (SVC_ATTR_STATS, KERNEL_STATS32),
    (SVC_ATTR_STATS64, KERNEL_STATS64),
)
SVC_HEADS = tuple(
    (kernel_layout(order, None), tuple(attr for attr, _kind in order))
    for order in (KERNEL_SVC_VIP, KERNEL_SVC_FWMARK)
)
#: (flags, flags mask, timeout, netmask, the 10 counters of STATS64)
SVC_TAILS = kernel_layouts(KERNEL_SVC_TAIL, skip=(SVC_ATTR_STATS,))


def decode_service(buf: Buffer, off: int, length: int) -> tuple[ServiceHead, Stats] | None:
    """``decode_service_plain``, reading a message as Linux writes it in three parts."""
    parts = _kernel_service(buf, off + genl.HDRLEN, off + length)
    if parts is None:
        return decode_service_plain(buf, off, length)
    s, counters, _tail = parts
    head = make_service_head(s)
    return None if head is None else (head, Stats(*counters))


#: where a service message's tail was found: its size and the index of its layout among
#: ``SVC_TAILS[size]`` (the first that matched)
TailAt: TypeAlias = tuple[int, int]
#: the bytes of a tail before its stats: the FLAGS, TIMEOUT and NETMASK attributes (no
#: padding ever comes before them: Linux pads only before a u64)
TAIL_IDENT = (4 + FLAGS.size) + (4 + U32.size) + (4 + U32.size)  # KERNEL_SVC_TAIL[:3]


def _kernel_service(
    buf: Buffer, start: int, end: int
) -> tuple[dict[int, AttrValue], tuple[int, ...], TailAt] | None:
    """The service attributes of a message as Linux writes it (its stats apart), its 64-bit
    counters, and where its tail was found, or None if it is written otherwise."""
    if end - start < 4:
        return None
    nest_len, nest_type = genl.NLATTR.unpack_from(buf, start)
    if nest_type != CMD_ATTR_SERVICE or start + nest_len != end:
        return None
    pos = start + 4
    s: dict[int, AttrValue] = {}
    for layout, attrs in SVC_HEADS:
        head = layout.read(buf, pos, end - pos, whole=False)
        if head is not None:
            s.update(zip(attrs, head, strict=True))
            pos += layout.struct.size
            break
    else:
        return None
    for attr in (SVC_ATTR_SCHED_NAME, SVC_ATTR_PE_NAME):
        if pos + 4 > end:
            return None
        attr_len, attr_type = genl.NLATTR.unpack_from(buf, pos)
        if attr_type == attr and attr_len > 4 and pos + attr_len <= end:
            s[attr] = decode_str(bytes(buf[pos + 4 : pos + attr_len]))
            pos += genl.align4(attr_len)
    for index, layout in enumerate(SVC_TAILS.get(end - pos, ())):
        tail = layout.read(buf, pos, end - pos)
        if tail is not None:
            s[SVC_ATTR_FLAGS] = tail[0:2]
            s[SVC_ATTR_TIMEOUT], s[SVC_ATTR_NETMASK] = tail[2], tail[3]
            return s, tail[4:], (end - pos, index)
    return None


class ServiceHeads:
    """``decode_service`` for a table polled again and again, where services keep what
    identifies them and only their counters move: a message as Linux writes it whose bytes
    before its stats are those of a service decoded before gives that service's head again,
    with the message's own counters, without decoding the rest; counters byte for byte that
    service's of the previous poll are that poll's counters again. Kept only behind
    a property test proving it gives what ``decode_service_plain`` gives
    (tests/unit/test_ipvs_decode.py).

    Why a message's bytes before its stats decide all but the stats: ``_kernel_service`` reads
    the head and strings from the bytes before the tail, and the tail's first values (flags,
    timeout, netmask) from its first ``TAIL_IDENT`` bytes, at the same offsets in every tail
    layout. Those bytes start with the service nest's length, so equal bytes also mean the
    same tail size, hence the same tail layouts tried in the same order. The stats are read
    from the message itself by the first matching layout of that size, as
    ``_kernel_service`` reads them; equal bytes after ``TAIL_IDENT`` (headers included) are
    matched by the same layout, so they give equal counters.

    What it keeps per service: the bytes before its stats (the key), its head, the bytes of its
    stats and the counters read from them (their values: the snapshot's ``ServiceCounters``
    builds a Stats only when one is read); a service whose stats bytes are its last poll's
    gets those counters again."""

    def __init__(self) -> None:
        #: the bytes before a service's stats -> (its head, the bytes after them, the
        #: counters read from those): the last poll's, and this one's
        self._last: dict[bytes, tuple[ServiceHead, bytes, Counters]] = {}
        self._seen: dict[bytes, tuple[ServiceHead, bytes, Counters]] = {}
        #: (tail size, its layouts) to try, the last size decoded first (any order gives
        #: the same)
        self._tails = list(SVC_TAILS.items())

    def decode(self, buf: Buffer, off: int, length: int) -> tuple[ServiceHead, Counters] | None:
        """(the head, and the message's counters: a Stats, or its values for
        ``ServiceCounters`` to build one when read), or None (see ``make_service_head``).
        Malformed: NetlinkError."""
        start, end = off + genl.HDRLEN, off + length
        for size, layouts in self._tails:
            if end - size <= start:
                continue
            for layout in layouts:
                tail = layout.read(buf, end - size, size)
                if tail is not None:
                    ident_end = end - size + TAIL_IDENT
                    ident = bytes(buf[start:ident_end])
                    known = self._last.get(ident)
                    if known is None:
                        break  # the first layout of a size that matches is the one taken
                    head, last_raw, counters = known
                    raw = bytes(buf[ident_end:end])
                    if raw != last_raw:
                        counters = tail[4:]
                    self._seen[ident] = (head, raw, counters)
                    return head, counters
        parts = _kernel_service(buf, start, end)
        if parts is None:
            return decode_service_plain(buf, off, length)
        s, values, (size, _index) = parts
        made = make_service_head(s)
        if made is None:
            return None
        if self._tails[0][0] != size:  # this kernel's layout: tried first from now on
            self._tails.sort(key=lambda tail: tail[0] != size)
        ident_end = end - size + TAIL_IDENT
        self._seen[bytes(buf[start:ident_end])] = (made, bytes(buf[ident_end:end]), values)
        return made, values

    def poll_done(self) -> None:
        """Keep only the services this poll decoded (services gone are forgotten)."""
        self._last, self._seen = self._seen, {}


# -- values ------------------------------------------------------------------------------------

#: address text by raw bytes, per family: a table repeats the same few hundred addresses, and
#: formatting one through ``ipaddress`` costs more than the rest of its real server
_ADDRESSES: dict[bool, dict[bytes, str]] = {True: {}, False: {}}


def format_address(af: int, raw: bytes) -> str:
    """The address as ``ipaddress`` prints it (AF_INET6: 16 bytes, else the first 4)."""
    known = _ADDRESSES[af == AF_INET6]
    text = known.get(raw)
    if text is None:
        if len(known) > 100_000:
            known.clear()
        if af == AF_INET6:
            text = str(ipaddress.IPv6Address(raw[:16]))
        else:
            text = str(ipaddress.IPv4Address(raw[:4]))
        known[raw] = text
    return text


def decode_str(raw: bytes) -> str:
    """A NUL-terminated string attribute."""
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


@functools.lru_cache(maxsize=1024)
def service_flag_names(flags: int, scheduler: str) -> tuple[str, ...]:
    """Flag names as ipvsadm prints them (scheduler flags named after sh / mh)."""
    names: list[str] = []
    if flags & SVC_F_PERSISTENT:
        names.append("persistent")
    if flags & SVC_F_ONEPACKET:
        names.append("one-packet")
    if scheduler in ("sh", "mh"):
        if flags & SVC_F_SCHED1:
            names.append(f"{scheduler}-fallback")
        if flags & SVC_F_SCHED2:
            names.append(f"{scheduler}-port")
        if flags & SVC_F_SCHED3:
            names.append("flag-3")
    else:
        for bit, name in (
            (SVC_F_SCHED1, "flag-1"),
            (SVC_F_SCHED2, "flag-2"),
            (SVC_F_SCHED3, "flag-3"),
        ):
            if flags & bit:
                names.append(name)
    return tuple(names)


def tunnel_flag_names(flags: int) -> tuple[str, ...]:
    names = []
    if flags & 1:
        names.append("csum")
    if flags & 2:
        names.append("remcsum")
    return tuple(names) or ("nocsum",)


# -- requests ----------------------------------------------------------------------------------

#: svc_ident's two usual shapes, one Struct each: the nested header, AF, then PROTOCOL +
#: ADDR + PORT or FWMARK (u16 payloads padded to 4 bytes; "16s" pads the address with zeros)
_IDENT_VIP = struct.Struct("=HHHHH2xHHH2xHH16sHHH2x")
_IDENT_FWMARK = struct.Struct("=HHHHH2xHHI")
_NESTED_SERVICE = CMD_ATTR_SERVICE | genl.NLA_F_NESTED


def svc_ident(
    af: int, protocol: int = 0, raw_addr: bytes = b"", raw_port: int = 0, fwmark: int = 0
) -> bytes:
    """The identifying attributes of a service (what GET_DEST / SET_DEST / … need)."""
    # the usual shapes in one pack each (a snapshot builds one ident per service); the same
    # bytes as the general form below (a unit test compares them)
    if fwmark:
        if 0 <= af <= 0xFFFF and 0 < fwmark <= 0xFFFFFFFF:
            return _IDENT_FWMARK.pack(
                _IDENT_FWMARK.size, _NESTED_SERVICE, 6, SVC_ATTR_AF, af, 8, SVC_ATTR_FWMARK, fwmark
            )
    elif (
        0 <= af <= 0xFFFF
        and 0 <= protocol <= 0xFFFF
        and 0 <= raw_port <= 0xFFFF
        and len(raw_addr) <= 16
    ):
        return _IDENT_VIP.pack(
            _IDENT_VIP.size,
            _NESTED_SERVICE,
            6,
            SVC_ATTR_AF,
            af,
            6,
            SVC_ATTR_PROTOCOL,
            protocol,
            20,
            SVC_ATTR_ADDR,
            raw_addr,
            6,
            SVC_ATTR_PORT,
            raw_port,
        )
    parts = [genl.nla_u16(SVC_ATTR_AF, af)]
    if fwmark:
        parts.append(genl.nla_u32(SVC_ATTR_FWMARK, fwmark))
    else:
        parts.append(genl.nla_u16(SVC_ATTR_PROTOCOL, protocol))
        parts.append(genl.nla(SVC_ATTR_ADDR, raw_addr.ljust(16, b"\0")))
        parts.append(genl.nla(SVC_ATTR_PORT, struct.pack("=H", raw_port)))
    return genl.nla_nested(CMD_ATTR_SERVICE, parts)


def service_ident_for(svc: Service) -> bytes:
    """``svc_ident`` from a model Service (for writes)."""
    af = FAMILY_NUMBERS[svc.family]
    if svc.fwmark is not None:
        return svc_ident(af, fwmark=svc.fwmark)
    assert svc.address is not None and svc.port is not None
    packed = ipaddress.ip_address(svc.address).packed
    return svc_ident(
        af,
        PROTOCOL_NUMBERS[svc.protocol],
        packed,
        struct.unpack("=H", struct.pack(">H", svc.port))[0],
    )


def timeouts_from_reply(data: bytes) -> Timeouts:
    attrs = message_attrs(data)
    return Timeouts(
        tcp=_int(attrs, CMD_ATTR_TIMEOUT_TCP),
        tcpfin=_int(attrs, CMD_ATTR_TIMEOUT_TCP_FIN),
        udp=_int(attrs, CMD_ATTR_TIMEOUT_UDP),
    )


def daemon_from_message(data: bytes) -> SyncDaemon | None:
    attrs = message_attrs(data).get(CMD_ATTR_DAEMON)
    if not isinstance(attrs, dict):
        return None
    state = attrs.get(DAEMON_ATTR_STATE)
    if not isinstance(state, int):
        return None
    group: str | None = None
    if (raw6 := _raw(attrs, DAEMON_ATTR_MCAST_GROUP6, 16)) is not None:
        group = format_address(AF_INET6, raw6)
    elif (raw4 := _raw(attrs, DAEMON_ATTR_MCAST_GROUP, 4)) is not None:
        group = format_address(AF_INET, raw4)
    interface = attrs.get(DAEMON_ATTR_MCAST_IFN)
    return SyncDaemon(
        state={1: "master", 2: "backup"}.get(state, f"state-{state}"),
        interface=interface if isinstance(interface, str) else "",
        syncid=_int(attrs, DAEMON_ATTR_SYNC_ID),
        sync_maxlen=_int(attrs, DAEMON_ATTR_SYNC_MAXLEN),
        mcast_group=group,
        mcast_port=_int(attrs, DAEMON_ATTR_MCAST_PORT),
        mcast_ttl=_int(attrs, DAEMON_ATTR_MCAST_TTL),
    )


# ---------------------------------------------------------------------------------------------
# Transport: the IPVS family on a generic netlink socket. Tests swap in a recorder / replayer
# (tests/ipvs_record.py).


T = TypeVar("T")


class IpvsTransport(Protocol):
    """What an ``IpvsReader`` reads through: ``IpvsNetlink`` on a socket (tests and benches
    hand in recorded replies)."""

    def dump(
        self, cmd: int, attrs: bytes, parse: Callable[[bytearray, int, int], T | None], what: str
    ) -> list[T]:
        """Every message of a dump through ``parse(buf, offset, length)``, Nones left out."""
        ...

    def request(self, cmd: int, attrs: bytes, what: str) -> list[bytes]:
        """The reply messages of one request."""
        ...

    def close(self) -> None: ...


class IpvsNetlink:
    """The IPVS generic netlink family on one socket: ``dump`` and ``request``."""

    def __init__(self, sock: GenlSocket | None = None) -> None:
        try:
            self.sock = sock or GenlSocket()
        except NetlinkError as exc:
            raise ipvs_error(exc) from None
        try:
            self.family, _version = self.sock.resolve(IPVS_GENL_NAME)
        except NetlinkError as exc:
            self.sock.close()
            if exc.errno == errno.ENOENT:
                raise IpvsUnavailableError(ERR_NO_IPVS, exc.errno) from None
            raise ipvs_error(exc, "IPVS family lookup") from None

    def close(self) -> None:
        self.sock.close()

    def dump(
        self, cmd: int, attrs: bytes, parse: Callable[[bytearray, int, int], T | None], what: str
    ) -> list[T]:
        try:
            return self.sock.dump(self.family, cmd, IPVS_GENL_VERSION, attrs, parse, what=what)
        except NetlinkError as exc:
            raise ipvs_error(exc, what) from None

    def request(self, cmd: int, attrs: bytes, what: str) -> list[bytes]:
        try:
            return self.sock.request(self.family, cmd, IPVS_GENL_VERSION, attrs, what=what)
        except NetlinkError as exc:
            raise ipvs_error(exc, what) from None


# ---------------------------------------------------------------------------------------------
# The reader

#: previous poll's objects by message body (see ``IpvsReader._read``)
Memo: TypeAlias = dict[bytes, "RealServer | None"]


def message_key(buf: Buffer, off: int, length: int) -> bytes:
    """A message's attributes as bytes: equal exactly when two messages say the same."""
    return bytes(buf[off + genl.HDRLEN : off + length])


#: seconds between two reads of the real servers of a service not in focus (not shown)
SWEEP_EVERY = 10.0
#: real servers a poll reads in turn (services not in focus), at most: a larger table takes
#: longer than ``SWEEP_EVERY`` for a whole turn, so that a poll costs what the screen shows,
#: not what the table holds (10,000 real servers at 1 s polls are still read every 10 s; each
#: 1,000 read costs a 10,000-service poll about a tenth more on the host)
SWEEP_BUDGET = 1_000


def _one(_key: str) -> int:
    return 1


class RealServerSweep:
    """Which services' real servers a partial read dumps: every service in focus, each
    service first seen, and each other service when its turn comes, once every ``every``
    seconds. Turns keep their phase (a read because of the focus does not move it), and the
    services first seen together (the first poll: all of them) get turns spread over the
    next ``every`` seconds, so a poll reads about ``services × interval / every`` services
    besides the focus, never all at once.

    A poll's turn reads at most ``budget`` real servers (``size``: a service's count, as
    last read; at least one service a poll): the services longest due first, the others
    stay due for the next poll. On a table over ``budget × every / interval`` real servers
    a whole turn takes longer than ``every`` instead of every poll reading more."""

    def __init__(self, every: float = SWEEP_EVERY, budget: int = SWEEP_BUDGET) -> None:
        self.every = every
        self.budget = budget
        #: service key -> when its real servers are next due (monotonic seconds)
        self._due: dict[str, float] = {}
        self._first_seen: list[str] = []
        self._overdue: list[str] = []

    def choose(
        self,
        keys: Sequence[str],
        focus: Container[str],
        now: float,
        size: Callable[[str], int] = _one,
    ) -> set[str]:
        """The keys (of ``keys``, a service dump's) whose real servers to read now."""
        due = self._due
        if len(due) > len(keys) + 1024:  # forget services long gone
            due = self._due = {key: due[key] for key in keys if key in due}
        self._first_seen = [key for key in keys if key not in due]
        overdue = self._overdue = [key for key in keys if key in due and due[key] <= now]
        overdue.sort(key=due.__getitem__)
        turn: list[str] = []
        left = self.budget
        for key in overdue:  # one in focus is read anyway, at no cost to the budget
            if left <= 0:
                break
            if key not in focus:
                turn.append(key)
                left -= max(1, size(key))
        chosen = {key for key in keys if key in focus}
        chosen.update(self._first_seen, turn)
        return chosen

    def was_read(self, keys: Collection[str], now: float) -> None:
        """The real servers of ``keys`` were read at ``now`` (of the last ``choose``)."""
        due = self._due
        for key in self._overdue:  # read in turn, or anyway (its turn moves on)
            if key in keys:
                after = due[key] + self.every
                due[key] = after if after > now else now + self.every
        first = self._first_seen
        for position, key in enumerate(first, 1):
            if key in keys:
                due[key] = now + self.every * position / len(first)
        self._first_seen = self._overdue = []


class IpvsReader:
    """Reads IPVS snapshots. Blocking ``read()``; ``await snapshot()`` runs it off-loop.

    One reader keeps one netlink socket open, created lazily on first use: in the network
    namespace of the thread that first uses it (pass ``IpvsNetlink()`` made inside a netns to
    pin one). Calls are serialised: a second ``snapshot()`` while one runs waits for it
    rather than overlapping.
    """

    def __init__(
        self,
        transport: IpvsTransport | None = None,
        *,
        with_timeouts: bool = True,
        with_daemons: bool = True,
        memo: bool = True,
        sweep_every: float = SWEEP_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._transport = transport
        self._clock = clock
        self._lock = threading.Lock()
        self.with_timeouts = with_timeouts
        self.with_daemons = with_daemons
        #: reuse unchanged objects of the previous poll (see ``_read``); False: parse all
        self.memo = memo
        self._service_heads = ServiceHeads()
        #: the last read's services by key, and the heads they were made from
        self._services: Mapping[str, Service] = {}
        self._heads: dict[str, ServiceHead] = {}
        self._rs_memo: dict[str, Memo] = {}
        #: when a partial read (``read(focus)``) reads the real servers of the services
        #: not in focus
        self.sweep = RealServerSweep(sweep_every)
        #: the real servers the last read gave, by service key (a partial read keeps those
        #: of the services it does not read)
        self._carried: dict[str, tuple[RealServer, ...]] = {}

    @property
    def transport(self) -> IpvsTransport:
        if self._transport is None:
            self._transport = IpvsNetlink()
        return self._transport

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def __enter__(self) -> IpvsReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def snapshot(self, focus: Collection[str] | None = None) -> IpvsSnapshot:
        """A snapshot, read in a worker thread so the event loop stays free (``focus``: see
        ``read``)."""
        return await asyncio.to_thread(self.read, focus)

    def read(self, focus: Collection[str] | None = None) -> IpvsSnapshot:
        """A snapshot: every service and its counters; the real servers of every service
        (``focus`` None), or (a partial read) of the services in ``focus`` and of those
        ``self.sweep`` says are due, the others keeping the real servers an earlier read
        gave (``IpvsSnapshot.real_servers_read`` says which were read)."""
        with self._lock:
            # A snapshot allocates a few acyclic objects per real server; the cyclic garbage
            # collector would otherwise run dozens of times during a 10,000-server read
            # (costly, and more so in UML where touching new memory is slow) for nothing.
            gc_was_enabled = gc.isenabled()
            gc.disable()
            try:
                return self._read(focus)
            finally:
                if gc_was_enabled:
                    promote_to_oldest_generation()
                    gc.enable()

    def _read(self, focus: Collection[str] | None) -> IpvsSnapshot:
        """One consistent snapshot.

        Memo: a reply message whose attributes are byte for byte those of the previous poll
        gives back the previous poll's frozen object instead of being decoded again: a real
        server's message, whole; a service's, its head and its counters apart
        (``ServiceHeads``), and a service whose head and real servers are the previous
        poll's is the previous poll's object (its counters are the snapshot's
        ``service_stats``, new each poll). Only objects seen in this poll are kept.
        """
        t = self.transport
        taken_at = self._clock()
        wall = time.time()
        heads_decode = self._service_heads.decode if self.memo else None

        def one_service(
            buf: bytearray, off: int, length: int
        ) -> tuple[ServiceHead, Counters] | None:
            if buf[off + genl.NLMSGHDR.size] != CMD_NEW_SERVICE:  # genlmsghdr.cmd
                return None
            if heads_decode is not None:
                return heads_decode(buf, off, length)
            return decode_service(buf, off, length)

        dumped: list[tuple[ServiceHead, Counters]] = t.dump(
            CMD_GET_SERVICE, b"", one_service, "IPVS service dump"
        )
        self._service_heads.poll_done()
        keys = [head.key for head, _stats in dumped]
        carried, rs_memo = self._carried, self._rs_memo
        due = self.sweep.choose(
            keys, () if focus is None else focus, taken_at, lambda key: len(carried.get(key, ()))
        )
        wanted = None if focus is None else due
        # the real servers each service last had (``carried``) and their memos (``rs_memo``):
        # updated in place (a poll reads those in focus and the sweep's turn); what a failed
        # read leaves there is still true
        services: list[Service] = []
        counters: dict[str, Counters] = {}
        read: set[str] = set()
        old_services, old_heads = self._services, self._heads
        heads: dict[str, ServiceHead] = {}
        service_keys: list[str] = []
        for head, stats in dumped:
            key = head.key
            dests = carried.get(key)
            if wanted is None or key in wanted or dests is None:
                dests = self._read_dests(head, rs_memo, dests)
                if not dests and not self._service_exists(head.ident):
                    continue  # deleted between the two dumps: not part of this snapshot
                read.add(key)
                carried[key] = dests
            # the same head and real servers: the same object (its counters are the snapshot's)
            svc = old_services.get(key)
            if svc is None or svc.real_servers is not dests or old_heads.get(key) is not head:
                svc = with_real_servers(head.service, dests)
            services.append(svc)
            counters[key] = stats
            heads[key] = head
            service_keys.append(key)
        self.sweep.was_read(read, taken_at)
        if len(carried) > len(heads):  # services gone (or deleted during the read)
            for gone in carried.keys() - heads.keys():
                del carried[gone]
                rs_memo.pop(gone, None)
        timeouts = self._read_timeouts() if self.with_timeouts else None
        daemons = self._read_daemons() if self.with_daemons else ()
        snapshot = IpvsSnapshot(
            tuple(services),
            timeouts,
            daemons,
            taken_at,
            wall,
            None if wanted is None else frozenset(read),
            ServiceCounters(counters),
            service_keys,
        )
        if self.memo:
            self._services, self._heads = snapshot.by_key(), heads
        return snapshot

    def _read_dests(
        self,
        head: ServiceHead,
        rs_memo: dict[str, Memo],
        before: tuple[RealServer, ...] | None = None,
    ) -> tuple[RealServer, ...]:
        """The real servers of one service (one GET_DEST dump); its memo into ``rs_memo``;
        ``before``'s tuple again when its every object came back (the memo: nothing moved)."""
        if not self.memo:
            key, af = head.key, head.af

            def parse(buf: bytearray, off: int, length: int) -> RealServer | None:
                # positional: a partial with keywords costs twice the call, per real server
                return decode_dest(buf, off, length, key, af)

        else:
            old = self._rs_memo.get(head.key, {})
            new = rs_memo[head.key] = {}

            key, af = head.key, head.af

            def parse(buf: bytearray, off: int, length: int) -> RealServer | None:
                body = message_key(buf, off, length)
                rs = old.get(body)
                if rs is None:
                    rs = decode_dest(buf, off, length, key, af)
                new[body] = rs
                return rs

        dests = tuple(
            self.transport.dump(
                CMD_GET_DEST, head.ident, parse, "IPVS real-server dump of " + head.key
            )
        )
        if (
            before is not None
            and len(before) == len(dests)
            and all(a is b for a, b in zip(before, dests, strict=True))
        ):
            return before
        return dests

    def _service_exists(self, ident: bytes) -> bool:
        try:
            self.transport.request(CMD_GET_SERVICE, ident, "IPVS service lookup")
        except IpvsError as exc:
            if exc.errno in (errno.ESRCH, errno.ENOENT):
                return False
            raise
        return True

    def read_service(self, ident: bytes) -> Service | None:
        """One service (by its identifying attributes, see ``svc_ident``) with its real
        servers, or None when the kernel has no such service."""
        with self._lock:
            transport = self.transport  # no IPVS / no privilege: raised here, not "no service"
            try:
                replies = transport.request(CMD_GET_SERVICE, ident, "IPVS service lookup")
            except IpvsError as exc:
                if exc.errno in (errno.ESRCH, errno.ENOENT):
                    return None
                raise
            head = None
            for msg in replies:
                if msg[genl.NLMSGHDR.size] == CMD_NEW_SERVICE:
                    decoded = decode_service(msg, 0, len(msg))
                    if decoded is not None:
                        head = decoded[0]
                        break
            if head is None:
                return None
            key, af = head.key, head.af

            def one(buf: bytearray, off: int, length: int) -> RealServer | None:
                return decode_dest(buf, off, length, key, af)  # no memo: writes want fresh

            dests = transport.dump(CMD_GET_DEST, head.ident, one, f"IPVS real-server dump of {key}")
            return with_real_servers(head.service, tuple(dests))

    def request(self, cmd: int, attrs: bytes, what: str) -> list[bytes]:
        """One IPVS request (a write) on this reader's socket, never during a snapshot."""
        with self._lock:
            return self.transport.request(cmd, attrs, what)

    def read_timeouts(self) -> Timeouts:
        with self._lock:
            return self._read_timeouts()

    def _read_timeouts(self) -> Timeouts:
        replies = self.transport.request(CMD_GET_CONFIG, b"", "IPVS timeouts")
        if not replies:
            raise IpvsError("IPVS timeouts: empty reply")
        return timeouts_from_reply(replies[0])

    def _read_daemons(self) -> tuple[SyncDaemon, ...]:
        def parse(buf: bytearray, off: int, length: int) -> SyncDaemon | None:
            return daemon_from_message(bytes(buf[off : off + length]))

        return tuple(self.transport.dump(CMD_GET_DAEMON, b"", parse, "IPVS sync daemons"))


def promote_to_oldest_generation() -> None:
    """Move every object the collector tracks to its oldest generation (``gc.freeze`` then
    ``gc.unfreeze``: two list splices), so that the young generations' next collections do
    not walk what a read just made.

    Why: a poll's objects (services, real servers, counters: tens of thousands at 10,000
    services) are acyclic, live until a later poll replaces them, and are freed by their
    reference counts. Left young, the first collection after a read walks them all, and
    the next older one again (at 10,000×5 in bench_dashboard: 45 of 180 ms a refresh).
    In the oldest generation only full collections see them, as they would anyway. The
    cost: cyclic garbage other threads made just before waits for the next full collection
    instead of a young one. Not done while anything is frozen on purpose (never by lvstop).
    """
    if gc.get_freeze_count() == 0:
        gc.freeze()
        gc.unfreeze()


def with_real_servers(svc: Service, real_servers: tuple[RealServer, ...]) -> Service:
    """``svc`` with these real servers (positional: a snapshot builds thousands)."""
    return Service(
        svc.protocol,
        svc.family,
        svc.address,
        svc.port,
        svc.fwmark,
        svc.scheduler,
        svc.flags,
        svc.persistence_timeout,
        svc.persistence_mask,
        svc.persistence_engine,
        real_servers,
    )


def read_snapshot() -> IpvsSnapshot:
    """One snapshot with a throw-away socket (for one-shot commands: no memo)."""
    with IpvsReader(memo=False) as reader:
        return reader.read()
