"""``recvmmsg(2)`` through ctypes: every datagram already queued on a socket, up to a batch, in
one system call. The standard library's ``socket`` has no recvmmsg; ``lvstop.sources.genl``
uses this to take a netlink dump's data and its NLMSG_DONE in one call (see its docstring),
and falls back to ``recv_into`` when this module cannot be imported (no ctypes) or the C library
has no recvmmsg.
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Callable

#: datagrams per call and the room for each. Linux allocates a netlink dump's datagrams at most
#: SKB_WITH_OVERHEAD(32768) bytes (netlink_recvmsg caps max_recvmsg_len there) and a request's
#: reply NLMSG_GOODSIZE, so 64 KiB holds any; a datagram that does not fit is an error
#: (MSG_TRUNC), never a silent cut. 16 x 64 KiB: genl's one 1 MiB receive buffer.
BATCH_SLOTS = 16
BATCH_SLOT = 1 << 16
MSG_TRUNC = 0x20
MSG_WAITFORONE = 0x10000


class _IoVec(ctypes.Structure):
    _fields_ = (("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t))


class _MsgHdr(ctypes.Structure):
    _fields_ = (
        ("msg_name", ctypes.c_void_p),
        ("msg_namelen", ctypes.c_uint32),
        ("msg_iov", ctypes.POINTER(_IoVec)),
        ("msg_iovlen", ctypes.c_size_t),
        ("msg_control", ctypes.c_void_p),
        ("msg_controllen", ctypes.c_size_t),
        ("msg_flags", ctypes.c_int),
    )


class _MMsgHdr(ctypes.Structure):
    _fields_ = (("msg_hdr", _MsgHdr), ("msg_len", ctypes.c_uint))


def _libc_recvmmsg() -> Callable[..., int] | None:
    """The C library's ``recvmmsg`` (glibc and musl have it), or None."""
    try:
        func = ctypes.CDLL(None, use_errno=True).recvmmsg
    except (OSError, AttributeError):
        return None
    func.argtypes = (
        ctypes.c_int,
        ctypes.POINTER(_MMsgHdr),
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_void_p,
    )
    func.restype = ctypes.c_int
    return func


class BatchReceiver:
    """``recvmmsg(fd, ..., MSG_WAITFORONE)`` into ``buf``: up to BATCH_SLOTS datagrams per
    call, datagram i at ``buf[i * BATCH_SLOT:]``; it waits for the first datagram only and
    takes the ones already queued behind it. The buffers and headers are made once."""

    def __init__(self, fd: int, buf: bytearray, recvmmsg: Callable[..., int]) -> None:
        if len(buf) < BATCH_SLOTS * BATCH_SLOT:
            raise ValueError("receive buffer smaller than BATCH_SLOTS x BATCH_SLOT")
        self._fd = fd
        self._recvmmsg = recvmmsg
        #: the buffer as C memory (pins ``buf``: it cannot be resized while this lives)
        self._memory = (ctypes.c_char * len(buf)).from_buffer(buf)
        base = ctypes.addressof(self._memory)
        self._iov = (_IoVec * BATCH_SLOTS)(
            *(_IoVec(base + i * BATCH_SLOT, BATCH_SLOT) for i in range(BATCH_SLOTS))
        )
        self._msgs = (_MMsgHdr * BATCH_SLOTS)()
        for i, m in enumerate(self._msgs):
            m.msg_hdr.msg_iov = ctypes.pointer(self._iov[i])
            m.msg_hdr.msg_iovlen = 1

    def receive(self) -> list[tuple[int, int]]:
        """(start, end) in the buffer of each datagram received (at least one); OSError."""
        while True:
            count = self._recvmmsg(self._fd, self._msgs, BATCH_SLOTS, MSG_WAITFORONE, None)
            if count >= 0:
                break
            err = ctypes.get_errno()
            if err != errno.EINTR:
                raise OSError(err, os.strerror(err))
        out = []
        for i in range(count):
            m = self._msgs[i]
            if m.msg_hdr.msg_flags & MSG_TRUNC:
                raise OSError(errno.EMSGSIZE, "datagram larger than the receive buffer")
            start = i * BATCH_SLOT
            out.append((start, start + m.msg_len))
        return out

    def close(self) -> None:
        """Release the buffer (``from_buffer`` pins it)."""
        del self._msgs, self._iov, self._memory


_RECVMMSG = _libc_recvmmsg()


def receiver(fd: int, buf: bytearray) -> BatchReceiver | None:
    """A BatchReceiver for ``fd`` into ``buf``; None when the C library has no recvmmsg."""
    return None if _RECVMMSG is None else BatchReceiver(fd, buf, _RECVMMSG)
