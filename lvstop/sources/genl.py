"""A minimal generic-netlink client on the stdlib ``socket`` module.

Just what lvstop's IPVS reader and writer need: resolve a family by name, run a dump (with
retry when the kernel flags it NLM_F_DUMP_INTR, i.e. the table changed under the dump), and
send a request and wait for its reply or ACK. Replies are handed to a caller's parse function
as ``(buffer, offset, length)`` so the hot path never copies or re-wraps messages (see
``lvstop.sources.ipvs`` for why we parse by hand instead of through pyroute2).

Blocking on purpose: callers run it in a worker thread (``IpvsReader.snapshot()``).
Every failure is a ``NetlinkError`` whose ``str()`` is one line with the errno's name.

Datagrams are received several per system call where the C library has ``recvmmsg``
(``BatchReceiver``). Why: a dump's last data datagram and its NLMSG_DONE are two datagrams,
and the kernel queues the DONE while the receive of the data runs (net/netlink/af_netlink.c:
``netlink_recvmsg`` calls ``netlink_dump`` again after dequeuing), so one ``recvmmsg`` returns
both. An IPVS real-server dump (one per service: the API has no other way, and a second dump
on a socket before the first ends is refused with EBUSY) then costs a send and one receive
instead of a send and two receives: two system calls per service where ``ipvsadm -Ln`` makes
about eighteen (libipvs opens a socket and resolves the family for every request).
``GenlSocket(batch=False)`` receives one datagram per ``recv_into`` (the plain path; the lab
proves both give the same snapshot: tests/lab/test_ipvs_batch_lab.py).
"""

from __future__ import annotations

import errno as errno_mod
import os
import socket
import struct
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol, TypeVar

from lvstop.errors import LvstopError

NETLINK_GENERIC = 16

# nlmsghdr.nlmsg_type
NLMSG_NOOP = 1
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLMSG_OVERRUN = 4
GENL_ID_CTRL = 0x10

# nlmsghdr.nlmsg_flags
NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_ACK = 0x4
NLM_F_DUMP_INTR = 0x10
NLM_F_ROOT = 0x100
NLM_F_MATCH = 0x200
NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH
NLM_F_CAPPED = 0x100  # in an ACK: the error message carries only the request header

# the controller family
CTRL_CMD_GETFAMILY = 3
CTRL_ATTR_FAMILY_ID = 1
CTRL_ATTR_FAMILY_NAME = 2
CTRL_ATTR_VERSION = 3

NLA_F_NESTED = 0x8000
NLA_TYPE_MASK = 0x3FFF

NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
GENLMSGHDR = struct.Struct("=BBH")  # cmd, version, reserved
NLATTR = struct.Struct("=HH")  # len, type
_ERR = struct.Struct("=i")
HDRLEN = NLMSGHDR.size + GENLMSGHDR.size  # 20: where a genl message's attributes start

#: how many times a dump interrupted by a concurrent change is re-run before giving up
DUMP_RETRIES = 5
RECV_BUFFER = 1 << 20

T = TypeVar("T")


class BatchReceiver(Protocol):
    """Receives every datagram queued on a socket, up to a batch, in one system call
    (``lvstop.sources.recvmmsg``)."""

    def receive(self) -> list[tuple[int, int]]: ...

    def close(self) -> None: ...


def batch_receiver(fd: int, buf: bytearray) -> BatchReceiver | None:
    """A ``recvmmsg`` receiver into ``buf``, or None where there is none (a Python built
    without ctypes, as python3-minimal is on a director running the agent; a C library
    without recvmmsg): then one datagram per ``recv_into``."""
    try:
        from lvstop.sources import recvmmsg
    except ImportError:
        return None
    return recvmmsg.receiver(fd, buf)


class NetlinkError(LvstopError):
    """A netlink request failed; ``errno`` is the kernel's error number (0 if not from it)."""

    def __init__(self, message: str, err: int = 0) -> None:
        super().__init__(message)
        self.errno = err


class DumpInterrupted(NetlinkError):
    """The kernel kept flagging the dump as inconsistent (NLM_F_DUMP_INTR)."""


def errno_text(err: int) -> str:
    """``ENOENT (No such file or directory)``"""
    name = errno_mod.errorcode.get(err, f"errno {err}")
    return f"{name} ({os.strerror(err)})"


def align4(n: int) -> int:
    return (n + 3) & ~3


def nla(attr_type: int, payload: bytes) -> bytes:
    """One netlink attribute, padded to 4 bytes."""
    length = NLATTR.size + len(payload)
    return NLATTR.pack(length, attr_type) + payload + b"\0" * (align4(length) - length)


def nla_u8(attr_type: int, value: int) -> bytes:
    return nla(attr_type, struct.pack("=B", value))


def nla_u16(attr_type: int, value: int) -> bytes:
    return nla(attr_type, struct.pack("=H", value))


def nla_be16(attr_type: int, value: int) -> bytes:
    return nla(attr_type, struct.pack(">H", value))


def nla_u32(attr_type: int, value: int) -> bytes:
    return nla(attr_type, struct.pack("=I", value))


def nla_str(attr_type: int, value: str) -> bytes:
    return nla(attr_type, value.encode() + b"\0")


def nla_nested(attr_type: int, parts: Iterable[bytes]) -> bytes:
    return nla(attr_type | NLA_F_NESTED, b"".join(parts))


def iter_attrs(
    buf: bytes | bytearray | memoryview, start: int, end: int
) -> Iterable[tuple[int, int, int]]:
    """Yield ``(type, payload_offset, payload_length)`` of the attributes in buf[start:end]."""
    off = start
    unpack = NLATTR.unpack_from
    while off + 4 <= end:
        length, attr_type = unpack(buf, off)
        if length < 4 or off + length > end:
            raise NetlinkError(f"netlink: malformed attribute at offset {off}")
        yield attr_type & NLA_TYPE_MASK, off + 4, length - 4
        off += align4(length)


class GenlSocket:
    """One NETLINK_GENERIC socket. Not thread-safe: one request at a time, serialised by the
    caller holding ``lock`` (IpvsReader holds it for a whole snapshot). Not taken per call:
    in the UML lab a lock round trip per dump cost ~25 us, a third of a real-server dump.

    ``batch``: receive with ``recvmmsg`` when the C library has it (see the module's
    docstring); False: one ``recv_into`` per datagram."""

    def __init__(self, rcvbuf: int = 4 << 20, *, batch: bool = True) -> None:
        try:
            self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
        except OSError as exc:
            raise NetlinkError(
                f"cannot open a generic netlink socket: {errno_text(exc.errno or 0)}",
                exc.errno or 0,
            ) from None
        try:
            # A big receive buffer lets the kernel put many messages in one skb per recv.
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            # Ask for extended ACKs (error strings) where the kernel has them.
            self._sock.setsockopt(270, 11, 1)  # SOL_NETLINK, NETLINK_EXT_ACK
        except OSError:
            pass
        self._sock.bind((0, 0))
        self._seq = 0
        self._buf = bytearray(RECV_BUFFER)
        self._batch: BatchReceiver | None = None
        if batch:
            self._batch = batch_receiver(self._sock.fileno(), self._buf)
        self.lock = threading.Lock()
        self._families: dict[str, tuple[int, int]] = {}

    @property
    def batched(self) -> bool:
        """Whether datagrams are received several per call (``recvmmsg``)."""
        return self._batch is not None

    def close(self) -> None:
        if self._batch is not None:
            self._batch.close()
            self._batch = None
        self._sock.close()

    def __enter__(self) -> GenlSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fileno(self) -> int:
        return self._sock.fileno()

    # -- low level -------------------------------------------------------------------------

    def _send(self, msg_type: int, flags: int, cmd: int, version: int, attrs: bytes) -> int:
        self._seq = (self._seq + 1) & 0xFFFFFFFF or 1
        length = HDRLEN + len(attrs)
        msg = (
            NLMSGHDR.pack(length, msg_type, flags, self._seq, 0)
            + GENLMSGHDR.pack(cmd, version, 0)
            + attrs
        )
        try:
            self._sock.send(msg)
        except OSError as exc:
            err = exc.errno or 0
            raise NetlinkError(f"netlink send failed: {errno_text(err)}", err) from None
        return self._seq

    def _recv(self) -> Sequence[tuple[int, int]]:
        """The datagrams of one receive call, as (start, end) in ``self._buf``."""
        try:
            if self._batch is not None:
                return self._batch.receive()
            return ((0, self._sock.recv_into(self._buf)),)
        except OSError as exc:
            err = exc.errno or 0
            if err == errno_mod.ENOBUFS:
                raise NetlinkError(
                    "netlink receive buffer overrun (ENOBUFS): the kernel dropped replies", err
                ) from None
            raise NetlinkError(f"netlink receive failed: {errno_text(err)}", err) from None

    def _error(self, buf: bytearray, off: int, what: str) -> NetlinkError:
        (code,) = _ERR.unpack_from(buf, off + NLMSGHDR.size)
        err = -code
        return NetlinkError(f"{what}: {errno_text(err)}", err)

    # -- public ----------------------------------------------------------------------------

    def resolve(self, name: str) -> tuple[int, int]:
        """(family id, version) of a generic netlink family; NetlinkError(ENOENT) if absent."""
        cached = self._families.get(name)
        if cached is not None:
            return cached
        replies = self.request(
            GENL_ID_CTRL,
            CTRL_CMD_GETFAMILY,
            1,
            nla_str(CTRL_ATTR_FAMILY_NAME, name),
            what=f"generic netlink family {name}",
        )
        family_id = version = 0
        for data in replies:
            for attr_type, off, length in iter_attrs(data, HDRLEN, len(data)):
                if attr_type == CTRL_ATTR_FAMILY_ID and length >= 2:
                    (family_id,) = struct.unpack_from("=H", data, off)
                elif attr_type == CTRL_ATTR_VERSION and length >= 4:
                    (version,) = struct.unpack_from("=I", data, off)
        if not family_id:
            raise NetlinkError(f"generic netlink family {name}: no id in the reply")
        self._families[name] = (family_id, version)
        return family_id, version

    def request(
        self, family: int, cmd: int, version: int, attrs: bytes = b"", *, what: str = "request"
    ) -> list[bytes]:
        """Send one request with NLM_F_ACK; return the reply messages (whole, as bytes).

        Raises NetlinkError with the kernel's errno when it answers with an error.
        """
        seq = self._send(family, NLM_F_REQUEST | NLM_F_ACK, cmd, version, attrs)
        replies: list[bytes] = []
        buf = self._buf
        while True:
            for off, n in self._recv():
                while off + NLMSGHDR.size <= n:
                    length, msg_type, _flags, mseq, _pid = NLMSGHDR.unpack_from(buf, off)
                    if length < NLMSGHDR.size or off + length > n:
                        raise NetlinkError("netlink: truncated message in reply")
                    if mseq == seq:
                        if msg_type == NLMSG_ERROR:
                            (code,) = _ERR.unpack_from(buf, off + NLMSGHDR.size)
                            if code == 0:  # the ACK
                                return replies
                            raise self._error(buf, off, what)
                        if msg_type == NLMSG_DONE:
                            return replies
                        if msg_type == family:
                            replies.append(bytes(buf[off : off + length]))
                    off += align4(length)

    def dump(
        self,
        family: int,
        cmd: int,
        version: int,
        attrs: bytes,
        parse: Callable[[bytearray, int, int], T | None],
        *,
        what: str = "dump",
    ) -> list[T]:
        """Run a dump; ``parse(buf, offset, length)`` is called on each message of the family.

        Results that are None are skipped. A dump the kernel flags NLM_F_DUMP_INTR is run
        again (up to DUMP_RETRIES times), so the list returned is from one consistent pass.
        """
        for _attempt in range(DUMP_RETRIES + 1):
            out, interrupted = self._dump_once(family, cmd, version, attrs, parse, what)
            if not interrupted:
                return out
        raise DumpInterrupted(
            f"{what}: the table kept changing during the dump "
            f"({DUMP_RETRIES + 1} attempts interrupted)",
            errno_mod.EINTR,
        )

    def _dump_once(
        self,
        family: int,
        cmd: int,
        version: int,
        attrs: bytes,
        parse: Callable[[bytearray, int, int], T | None],
        what: str,
    ) -> tuple[list[T], bool]:
        seq = self._send(family, NLM_F_REQUEST | NLM_F_DUMP, cmd, version, attrs)
        out: list[T] = []
        append = out.append
        interrupted = False
        buf = self._buf
        unpack_hdr = NLMSGHDR.unpack_from
        hdr_size = NLMSGHDR.size
        while True:
            for off, n in self._recv():
                while off + hdr_size <= n:
                    length, msg_type, flags, mseq, _pid = unpack_hdr(buf, off)
                    if length < hdr_size or off + length > n:
                        raise NetlinkError(f"{what}: truncated netlink message")
                    if mseq != seq:  # a leftover of an earlier, abandoned request
                        off += (length + 3) & ~3
                        continue
                    if flags & NLM_F_DUMP_INTR:
                        interrupted = True
                    if msg_type == family:
                        item = parse(buf, off, length)
                        if item is not None:
                            append(item)
                    elif msg_type == NLMSG_DONE:
                        if length >= hdr_size + 4:
                            (code,) = _ERR.unpack_from(buf, off + hdr_size)
                            if code < 0:
                                raise self._error(buf, off, what)
                        return out, interrupted
                    elif msg_type == NLMSG_ERROR:
                        (code,) = _ERR.unpack_from(buf, off + hdr_size)
                        if code != 0:
                            raise self._error(buf, off, what)
                        return out, interrupted
                    elif msg_type == NLMSG_OVERRUN:
                        raise NetlinkError(f"{what}: netlink overrun", errno_mod.ENOBUFS)
                    off += (length + 3) & ~3
