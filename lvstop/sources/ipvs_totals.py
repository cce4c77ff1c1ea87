"""IPVS's totals over every service, ever: ``/proc/net/ip_vs_stats`` (this netns).

Netlink has no command for them (``IPVS_CMD_GET_INFO`` gives the version and the connection
table size only), and they are not the sum of the services' counters: a deleted service's
packets stay in the totals. node_exporter's ``node_ipvs_*_total`` series come from this file,
so lvstop's come from it too. Format (``ip_vs_stats_show``; the counters in hex, the kernel
folds its per-CPU counters in on the 2 s estimator tick)::

       Total Incoming Outgoing         Incoming         Outgoing
       Conns  Packets  Packets            Bytes            Bytes
           2        F        0              3E8                0

     Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s
           0        0        0                0                0
"""

from __future__ import annotations

import os

from lvstop.errors import LvstopError
from lvstop.model.ipvs import Stats

PROC_IP_VS_STATS = "/proc/net/ip_vs_stats"
#: the file is about 400 bytes; anything much longer is not it
MAX_SIZE = 4096


def parse_totals(text: str) -> Stats:
    """The counters and the kernel's rates of an ``ip_vs_stats`` text; ValueError if not one."""
    lines = text.splitlines()
    if len(lines) < 3:
        raise ValueError("too short")
    counters = lines[2].split()
    rates = lines[5].split() if len(lines) > 5 else ["0"] * 5
    if len(counters) != 5 or len(rates) != 5:
        raise ValueError("unexpected number of fields")
    try:
        c = [int(v, 16) for v in counters]
        r = [int(v, 16) for v in rates]
    except ValueError:
        raise ValueError("a field is not a hexadecimal number") from None
    return Stats(c[0], c[1], c[2], c[3], c[4], r[0], r[1], r[2], r[3], r[4])


def read_totals(path: str = PROC_IP_VS_STATS) -> Stats:
    """The totals of the calling thread's network namespace; LvstopError in one line."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise LvstopError(f"{path}: no such file (is the ip_vs module loaded?)") from None
    except OSError as exc:
        raise LvstopError(f"{path}: {exc.strerror}") from None
    try:
        data = os.read(fd, MAX_SIZE)
    except OSError as exc:
        raise LvstopError(f"{path}: {exc.strerror}") from None
    finally:
        os.close(fd)
    try:
        return parse_totals(data.decode("ascii", "replace"))
    except ValueError as exc:
        raise LvstopError(f"{path}: not the IPVS totals ({exc})") from None
