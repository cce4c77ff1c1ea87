"""The generic netlink client's dump loop against a scripted socket: DUMP_INTR retry, stale
replies, kernel errors as one line with the errno's name."""

from __future__ import annotations

import errno
import struct
import threading
from collections.abc import Callable

import pytest

from lvstop.sources import genl
from lvstop.sources.genl import DumpInterrupted, GenlSocket, NetlinkError

FAMILY = 0x20


def msg(msg_type: int, flags: int, seq: int, payload: bytes) -> bytes:
    body = genl.GENLMSGHDR.pack(5, 1, 0) + payload if msg_type == FAMILY else payload
    length = 16 + len(body)
    return (
        genl.NLMSGHDR.pack(length, msg_type, flags, seq, 0)
        + body
        + b"\0" * (genl.align4(length) - length)
    )


def done(seq: int, flags: int = 0) -> bytes:
    return msg(genl.NLMSG_DONE, flags | genl.NLM_F_MULTI, seq, struct.pack("=i", 0))


def error(seq: int, code: int) -> bytes:
    return msg(genl.NLMSG_ERROR, 0, seq, struct.pack("=i", -code) + b"\0" * 16)


class ScriptedSocket:
    """recv_into() hands out the next scripted datagram; {seq} is the last request's seq."""

    def __init__(self, script: list[Callable[[int], bytes]]) -> None:
        self.script = list(script)
        self.sent: list[bytes] = []

    def send(self, data: bytes) -> int:
        self.sent.append(data)
        return len(data)

    def recv_into(self, buf: bytearray) -> int:
        seq = genl.NLMSGHDR.unpack_from(self.sent[-1])[3]
        data = self.script.pop(0)(seq)
        buf[: len(data)] = data
        return len(data)

    def close(self) -> None:
        pass


def scripted(script: list[Callable[[int], bytes]]) -> GenlSocket:
    g = object.__new__(GenlSocket)
    g._sock = ScriptedSocket(script)  # type: ignore[assignment]  # the kernel's side, scripted
    g._seq = 0
    g._buf = bytearray(1 << 16)
    g._batch = None
    g.lock = threading.Lock()
    g._families = {}
    return g


def item(seq: int, value: int, flags: int = genl.NLM_F_MULTI) -> bytes:
    return msg(FAMILY, flags, seq, genl.nla_u32(1, value))


def parse(buf: bytearray | bytes, off: int, length: int) -> int:
    value: int = struct.unpack_from("=I", buf, off + genl.HDRLEN + 4)[0]
    return value


def test_interrupted_dump_is_run_again() -> None:
    g = scripted(
        [
            lambda s: item(s, 1) + item(s, 2, genl.NLM_F_MULTI | genl.NLM_F_DUMP_INTR),
            lambda s: done(s, genl.NLM_F_DUMP_INTR),
            lambda s: item(s, 10) + item(s, 20) + done(s),
        ]
    )
    assert g.dump(FAMILY, 5, 1, b"", parse) == [10, 20]
    sock = g._sock
    assert isinstance(sock, ScriptedSocket)
    assert len(sock.sent) == 2


def test_dump_interrupted_every_time_gives_up_with_one_line() -> None:
    g = scripted([lambda s: item(s, 1, genl.NLM_F_DUMP_INTR) + done(s)] * 10)
    with pytest.raises(DumpInterrupted, match="kept changing"):
        g.dump(FAMILY, 5, 1, b"", parse, what="IPVS service dump")


def test_stale_replies_of_an_earlier_request_are_skipped() -> None:
    g = scripted([lambda s: item(s - 1, 99) + done(s - 1) + item(s, 7) + done(s)])
    assert g.dump(FAMILY, 5, 1, b"", parse) == [7]


def test_kernel_error_names_the_errno() -> None:
    g = scripted([lambda s: error(s, errno.EPERM)])
    with pytest.raises(NetlinkError) as info:
        g.dump(FAMILY, 5, 1, b"", parse, what="IPVS service dump")
    assert info.value.errno == errno.EPERM
    assert str(info.value) == "IPVS service dump: EPERM (Operation not permitted)"


def test_request_returns_replies_until_the_ack() -> None:
    g = scripted([lambda s: msg(FAMILY, 0, s, genl.nla_u32(1, 5)) + error(s, 0)])
    replies = g.request(FAMILY, 13, 1, b"")
    assert len(replies) == 1 and parse(replies[0], 0, len(replies[0])) == 5


def test_truncated_datagram_is_an_error_not_a_crash() -> None:
    g = scripted([lambda s: item(s, 1)[:-3]])
    with pytest.raises(NetlinkError, match="truncated"):
        g.dump(FAMILY, 5, 1, b"", parse)


def test_iter_attrs_rejects_bad_lengths() -> None:
    with pytest.raises(NetlinkError):
        list(genl.iter_attrs(struct.pack("=HH", 2, 1), 0, 4))
