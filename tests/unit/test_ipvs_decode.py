"""The IPVS decoders: the attribute table agrees with the kernel header, and the fast path
(a message as Linux writes it, read whole with one Struct) gives exactly what the plain
decoder (an attribute walk) gives, on recorded messages and on generated ones: as Linux
writes them (padded or not, from either alignment), reordered, with attributes missing, or
with bytes flipped."""

from __future__ import annotations

import json
import re
import struct
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ipvs_record import read_whole

from lvstop.model.ipvs import ServiceCounters
from lvstop.sources import genl, ipvs
from lvstop.sources.genl import NetlinkError

DATA = Path(__file__).resolve().parents[1] / "data" / "ipvs"
HEADER = Path("/usr/include/linux/ip_vs.h")


def recorded(cmd: int) -> list[bytes]:
    out = []
    for name in ("table-seed1.json", "table-seed2.json", "lab-d1-after-load.json"):
        doc = json.loads((DATA / name).read_text())
        out += [
            bytes.fromhex(m)
            for ex in doc["exchanges"]
            if ex["kind"] == "dump" and ex["cmd"] == cmd
            for m in ex["replies"]
        ]
    return out


# -- the table against the kernel header -------------------------------------------------------


def header_enum(prefix: str) -> dict[str, int]:
    """``IPVS_<prefix>_<NAME>`` -> value, from the enum of the installed ip_vs.h."""
    text = HEADER.read_text()
    body = re.search(r"enum\s*\{([^}]*\b" + prefix + r"UNSPEC[^}]*)\}", text)
    assert body is not None, prefix
    values: dict[str, int] = {}
    n = -1
    for line in body.group(1).splitlines():
        m = re.match(r"\s*(" + prefix + r"\w+)\s*(?:=\s*(\d+))?\s*,", line)
        if m:
            n = int(m.group(2)) if m.group(2) else n + 1
            values[m.group(1)[len(prefix) :]] = n
    return values


@pytest.mark.skipif(not HEADER.exists(), reason="no linux-libc-dev ip_vs.h")
@pytest.mark.parametrize(
    "prefix, ours",
    [
        ("IPVS_CMD_ATTR_", "CMD_ATTR_"),
        ("IPVS_SVC_ATTR_", "SVC_ATTR_"),
        ("IPVS_DEST_ATTR_", "DEST_ATTR_"),
        ("IPVS_DAEMON_ATTR_", "DAEMON_ATTR_"),
        ("IPVS_STATS_ATTR_", "STATS_ATTR_"),
        ("IPVS_CMD_", "CMD_"),
    ],
)
def test_attribute_numbers_are_the_kernel_headers(prefix: str, ours: str) -> None:
    kernel = header_enum(prefix)
    mine = {
        name[len(ours) :]: value
        for name, value in vars(ipvs).items()
        if name.startswith(ours)
        and isinstance(value, int)
        and not (ours == "CMD_" and name.startswith("CMD_ATTR_"))
    }
    assert mine, ours
    for name, value in mine.items():
        assert kernel.get(name) == value, f"{ours}{name}"


def test_the_tables_cover_every_attribute_type() -> None:
    assert set(ipvs.DEST_ATTRS) == set(range(1, 16))
    assert set(ipvs.SERVICE_ATTRS) == set(range(1, 13))
    assert set(ipvs.DAEMON_ATTRS) == set(range(1, 9))
    assert set(ipvs.STATS64_ATTRS) == set(ipvs.STATS32_ATTRS) == set(range(1, 11))


# -- messages as Linux writes them (an encoder independent of the decoder) ---------------------

U64 = object()  # a u64 payload: nla_put_u64_64bit may put a PAD attribute before it
# [(type, payload bytes | U64-tagged (U64, bytes) | nested Attrs)]: the payload is recursive
Attrs = list[tuple[int, Any]]


def encode(attrs: Attrs, pos: int, pad: bool) -> bytes:
    """Attributes ``[(type, payload bytes | U64-tagged (U64, bytes) | nested list)]`` written
    from absolute offset ``pos`` as the kernel does (``pad``: a PAD attribute before a u64
    attribute whose header would start 8-aligned)."""
    out = b""
    for attr, payload in attrs:
        here = pos + len(out)
        if isinstance(payload, list):
            inner = encode(payload, here + 4, pad)
            out += genl.NLATTR.pack(4 + len(inner), attr) + inner
            continue
        if isinstance(payload, tuple):
            _tag, payload = payload
            if pad and here % 8 == 0:
                out += genl.NLATTR.pack(4, ipvs.STATS_ATTR_PAD)
        out += genl.nla(attr, payload)
    return out


def message(cmd: int, attrs: Attrs, start: int, pad: bool) -> bytes:
    body = encode(attrs, start + genl.HDRLEN, pad)
    return (
        genl.NLMSGHDR.pack(genl.HDRLEN + len(body), 0x20, 2, 1, 0)
        + genl.GENLMSGHDR.pack(cmd, 1, 0)
        + body
    )


def stats_attrs(values: list[int], wide: bool) -> Attrs:
    if wide:
        return [(i, (U64, struct.pack("=Q", v))) for i, v in enumerate(values, 1)]
    return [
        (i, (U64, struct.pack("=Q", v)) if i in (4, 5) else struct.pack("=I", v & 0xFFFFFFFF))
        for i, v in enumerate(values, 1)
    ]


u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
u64 = st.integers(0, 2**64 - 1)
counters = st.lists(u64, min_size=10, max_size=10)


@st.composite
def dest_attrs(draw: st.DrawFn) -> Attrs:
    af = draw(st.sampled_from([2, 10]))
    raw = (
        draw(st.binary(min_size=16, max_size=16))
        if af == 10
        else draw(st.binary(min_size=4, max_size=4)) + b"\0" * 12
    )
    return [
        (ipvs.DEST_ATTR_ADDR, raw),
        (ipvs.DEST_ATTR_PORT, struct.pack("=H", draw(u16))),
        (ipvs.DEST_ATTR_FWD_METHOD, struct.pack("=I", draw(st.integers(0, 7)))),
        (ipvs.DEST_ATTR_WEIGHT, struct.pack("=I", draw(u32))),
        (ipvs.DEST_ATTR_TUN_TYPE, struct.pack("=B", draw(st.integers(0, 3)))),
        (ipvs.DEST_ATTR_TUN_PORT, struct.pack("=H", draw(u16))),
        (ipvs.DEST_ATTR_TUN_FLAGS, struct.pack("=H", draw(st.integers(0, 3)))),
        *(
            (attr, struct.pack("=I", draw(u32)))
            for attr in (
                ipvs.DEST_ATTR_U_THRESH,
                ipvs.DEST_ATTR_L_THRESH,
                ipvs.DEST_ATTR_ACTIVE_CONNS,
                ipvs.DEST_ATTR_INACT_CONNS,
                ipvs.DEST_ATTR_PERSIST_CONNS,
            )
        ),
        (ipvs.DEST_ATTR_ADDR_FAMILY, struct.pack("=H", af)),
        (ipvs.DEST_ATTR_STATS, stats_attrs(draw(counters), wide=False)),
        (ipvs.DEST_ATTR_STATS64, stats_attrs(draw(counters), wide=True)),
    ]


@st.composite
def service_attrs(draw: st.DrawFn) -> Attrs:
    af = draw(st.sampled_from([2, 10]))
    if draw(st.booleans()):
        ident = [
            (ipvs.SVC_ATTR_AF, struct.pack("=H", af)),
            (ipvs.SVC_ATTR_FWMARK, struct.pack("=I", draw(st.integers(1, 0xFFFFFFFF)))),
        ]
    else:
        ident = [
            (ipvs.SVC_ATTR_AF, struct.pack("=H", af)),
            (ipvs.SVC_ATTR_PROTOCOL, struct.pack("=H", draw(st.sampled_from([6, 17, 132, 99])))),
            (ipvs.SVC_ATTR_ADDR, draw(st.binary(min_size=16, max_size=16))),
            (ipvs.SVC_ATTR_PORT, struct.pack("=H", draw(u16))),
        ]
    names = st.text(st.characters(min_codepoint=97, max_codepoint=122), min_size=1, max_size=15)
    strings = [(ipvs.SVC_ATTR_SCHED_NAME, draw(names).encode() + b"\0")]
    if draw(st.booleans()):
        strings.append((ipvs.SVC_ATTR_PE_NAME, draw(names).encode() + b"\0"))
    return [
        *ident,
        *strings,
        (ipvs.SVC_ATTR_FLAGS, struct.pack("=II", draw(st.integers(0, 0x3F)), 0xFFFFFFFF)),
        (ipvs.SVC_ATTR_TIMEOUT, struct.pack("=I", draw(u32))),
        (ipvs.SVC_ATTR_NETMASK, struct.pack("=I", draw(u32))),
        (ipvs.SVC_ATTR_STATS, stats_attrs(draw(counters), wide=False)),
        (ipvs.SVC_ATTR_STATS64, stats_attrs(draw(counters), wide=True)),
    ]


def altered(draw: Callable[[st.SearchStrategy[Any]], Any], attrs: Attrs) -> Attrs:
    """The same attributes, maybe reordered, maybe one dropped (no longer Linux's layout)."""
    attrs = list(attrs)
    how = draw(st.sampled_from(["as-is", "shuffle", "drop"]))
    if how == "shuffle":
        attrs = draw(st.permutations(attrs))
    elif how == "drop":
        del attrs[draw(st.integers(0, len(attrs) - 1))]
    return attrs


def decodes_alike(
    fast: Callable[..., object], plain: Callable[..., object], msg: bytes, *extra: object
) -> object:
    try:
        want = plain(msg, 0, len(msg), *extra)
    except NetlinkError:
        with pytest.raises(NetlinkError):
            fast(msg, 0, len(msg), *extra)
        return None
    assert fast(msg, 0, len(msg), *extra) == want
    return want


def fast_path_reads(msg: bytes) -> bool:
    whole: bool = read_whole(ipvs.CMD_GET_DEST, msg)
    return whole


# -- the fast path on recorded messages -----------------------------------------------------


def test_recorded_messages_take_the_fast_path_and_agree_with_the_plain_decoders() -> None:
    dests, services = recorded(ipvs.CMD_GET_DEST), recorded(ipvs.CMD_GET_SERVICE)
    assert dests and services
    for m in dests:
        assert fast_path_reads(m)
        assert (
            ipvs.decode_dest(m, 0, len(m), "k", 2)
            == ipvs.decode_dest_plain(m, 0, len(m), "k", 2)
            is not None
        )
    for m in services:
        assert read_whole(ipvs.CMD_GET_SERVICE, m)
        assert (
            ipvs.decode_service(m, 0, len(m)) == ipvs.decode_service_plain(m, 0, len(m)) is not None
        )


# -- the fast path on generated messages ------------------------------------------------------


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data(), start=st.sampled_from([0, 4]), pad=st.booleans())
def test_real_server_messages_as_linux_writes_them(
    data: st.DataObject, start: int, pad: bool
) -> None:
    attrs = data.draw(dest_attrs())
    msg = message(ipvs.CMD_NEW_DEST, [(ipvs.CMD_ATTR_DEST, attrs)], start, pad)
    assert fast_path_reads(msg)  # the fast path is what is compared here
    rs = decodes_alike(ipvs.decode_dest, ipvs.decode_dest_plain, msg, "tcp:10.0.0.1:80", 2)
    assert rs is not None


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data(), start=st.sampled_from([0, 4]), pad=st.booleans())
def test_real_server_messages_written_otherwise(data: st.DataObject, start: int, pad: bool) -> None:
    attrs = altered(data.draw, data.draw(dest_attrs()))
    msg = message(ipvs.CMD_NEW_DEST, [(ipvs.CMD_ATTR_DEST, attrs)], start, pad)
    decodes_alike(ipvs.decode_dest, ipvs.decode_dest_plain, msg, "k", 10)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data(), start=st.sampled_from([0, 4]), pad=st.booleans())
def test_service_messages_as_linux_writes_them(data: st.DataObject, start: int, pad: bool) -> None:
    attrs = data.draw(service_attrs())
    msg = message(ipvs.CMD_NEW_SERVICE, [(ipvs.CMD_ATTR_SERVICE, attrs)], start, pad)
    assert read_whole(ipvs.CMD_GET_SERVICE, msg)
    head = decodes_alike(ipvs.decode_service, ipvs.decode_service_plain, msg)
    assert head is not None


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data(), start=st.sampled_from([0, 4]), pad=st.booleans())
def test_service_messages_written_otherwise(data: st.DataObject, start: int, pad: bool) -> None:
    attrs = altered(data.draw, data.draw(service_attrs()))
    msg = message(ipvs.CMD_NEW_SERVICE, [(ipvs.CMD_ATTR_SERVICE, attrs)], start, pad)
    decodes_alike(ipvs.decode_service, ipvs.decode_service_plain, msg)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data())
def test_corrupted_recorded_messages_decode_alike(data: st.DataObject) -> None:
    """Flipped bytes or a cut: both decoders give the same value, or both a NetlinkError."""
    kind = data.draw(st.sampled_from([ipvs.CMD_GET_DEST, ipvs.CMD_GET_SERVICE]))
    msg = bytearray(data.draw(st.sampled_from(recorded(kind))))
    for _ in range(data.draw(st.integers(1, 4))):
        msg[data.draw(st.integers(genl.HDRLEN, len(msg) - 1))] = data.draw(st.integers(0, 255))
    msg = msg[: data.draw(st.integers(genl.HDRLEN, len(msg)))]
    struct.pack_into("=I", msg, 0, len(msg))
    if kind == ipvs.CMD_GET_DEST:
        decodes_alike(ipvs.decode_dest, ipvs.decode_dest_plain, bytes(msg), "k", 2)
    else:
        decodes_alike(ipvs.decode_service, ipvs.decode_service_plain, bytes(msg))


# -- ServiceHeads: a service decoded before, its counters moved ----------------------------------


def heads_decode_alike(heads: ipvs.ServiceHeads, msg: bytes) -> None:
    """``heads.decode`` gives what the plain decoder gives: the head (its service with the
    message's counters) or None; a malformed message raises in both."""
    try:
        want = ipvs.decode_service_plain(msg, 0, len(msg))
    except NetlinkError:
        with pytest.raises(NetlinkError):
            heads.decode(msg, 0, len(msg))
        return
    got = heads.decode(msg, 0, len(msg))
    if want is None:
        assert got is None
        return
    assert got is not None
    head, counters = got
    stats = ServiceCounters({head.key: counters})[head.key]  # a Stats, or built when read
    assert (head.service, stats) == (want[0].service, want[1])
    assert (head.ident, head.af, head.key) == (want[0].ident, want[0].af, want[0].key)


def with_counters(attrs: Attrs, values: list[int], wide_values: list[int]) -> Attrs:
    """The same service attributes with other counters."""
    out = []
    for attr, payload in attrs:
        if attr == ipvs.SVC_ATTR_STATS:
            payload = stats_attrs(values, wide=False)
        elif attr == ipvs.SVC_ATTR_STATS64:
            payload = stats_attrs(wide_values, wide=True)
        out.append((attr, payload))
    return out


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data(), start=st.sampled_from([0, 4]), pad=st.booleans())
def test_service_heads_give_what_the_plain_decoder_gives_as_counters_move(
    data: st.DataObject, start: int, pad: bool
) -> None:
    heads = ipvs.ServiceHeads()
    attrs = data.draw(service_attrs())
    for _poll in range(data.draw(st.integers(2, 4))):
        how = data.draw(st.sampled_from(["counters", "counters", "other service", "altered"]))
        if how == "counters":
            attrs = with_counters(attrs, data.draw(counters), data.draw(counters))
        elif how == "other service":
            attrs = data.draw(service_attrs())
        else:
            attrs = altered(data.draw, attrs)
        msg = message(ipvs.CMD_NEW_SERVICE, [(ipvs.CMD_ATTR_SERVICE, attrs)], start, pad)
        heads_decode_alike(heads, msg)
        if data.draw(st.booleans()):
            heads.poll_done()


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data())
def test_service_heads_on_corrupted_recorded_messages(data: st.DataObject) -> None:
    """A recorded message decoded, then the same message with flipped bytes or cut."""
    heads = ipvs.ServiceHeads()
    original = data.draw(st.sampled_from(recorded(ipvs.CMD_GET_SERVICE)))
    heads_decode_alike(heads, original)
    heads.poll_done()
    msg = bytearray(original)
    for _ in range(data.draw(st.integers(1, 4))):
        msg[data.draw(st.integers(genl.HDRLEN, len(msg) - 1))] = data.draw(st.integers(0, 255))
    msg = msg[: data.draw(st.integers(genl.HDRLEN, len(msg)))]
    struct.pack_into("=I", msg, 0, len(msg))
    heads_decode_alike(heads, bytes(msg))


def test_service_heads_reuse_the_head_when_only_counters_move() -> None:
    """The reason for ServiceHeads: the second poll of a service reuses its head."""
    heads = ipvs.ServiceHeads()
    for msg in recorded(ipvs.CMD_GET_SERVICE):
        first = heads.decode(msg, 0, len(msg))
        heads.poll_done()
        moved = bytearray(msg)
        moved[-8:] = (int.from_bytes(msg[-8:], "little") + 12345).to_bytes(8, "little")
        second = heads.decode(bytes(moved), 0, len(moved))
        assert first is not None and second is not None
        assert second[0] is first[0]  # the same head object: nothing decoded again
        assert second[1] != first[1]
        heads_decode_alike(ipvs.ServiceHeads(), bytes(moved))


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    data=st.data(),
    start=st.sampled_from([0, 4]),
    pad=st.booleans(),
    pool=st.lists(counters, min_size=1, max_size=3),
)
def test_service_heads_over_a_table_as_its_counters_move_share_nothing_stale(
    data: st.DataObject, start: int, pad: bool, pool: list[list[int]]
) -> None:
    """A table polled again and again through one ServiceHeads: each poll, every service's
    counters are one of a few sets (so services share counters, and a service gets back
    the counters of an earlier poll) or another service's head appears. Every message gives
    what the plain decoder gives (counters reused from the memo are the message's own)."""
    heads = ipvs.ServiceHeads()
    table = data.draw(st.lists(service_attrs(), min_size=1, max_size=5))
    for _poll in range(data.draw(st.integers(2, 5))):
        for i, attrs in enumerate(table):
            how = data.draw(st.sampled_from(["pool", "pool", "pool", "same", "other service"]))
            if how == "pool":
                values = data.draw(st.sampled_from(pool))
                table[i] = with_counters(attrs, values, values)
            elif how == "other service":
                table[i] = data.draw(service_attrs())
        for attrs in table:
            heads_decode_alike(heads, message(ipvs.CMD_NEW_SERVICE, [(1, attrs)], start, pad))
        heads.poll_done()


def test_service_heads_tail_ident_is_what_precedes_the_stats() -> None:
    """TAIL_IDENT: the flags, timeout and netmask attributes, at the start of every tail
    layout, before any PAD attribute (the bytes a head is recognised by)."""
    for layouts in ipvs.SVC_TAILS.values():
        for layout in layouts:
            assert layout.struct.format.startswith("=4xII4xI4xI")
    assert struct.calcsize("=4xII4xI4xI") == ipvs.TAIL_IDENT
