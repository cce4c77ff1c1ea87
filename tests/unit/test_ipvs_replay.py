"""The IPVS parser on the host, replaying netlink replies recorded in the lab; ipvsadm's output,
recorded at the same moment, is the oracle."""

from __future__ import annotations

import contextlib
import json
import struct
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import ipvs_oracle

if TYPE_CHECKING:  # the same module, which mypy knows under its package name
    from tests.ipvs_record import Replayer
else:
    from ipvs_record import Replayer

from lvstop.model.ipvs import IpvsSnapshot, RealServer
from lvstop.sources import genl
from lvstop.sources.conns import aggregate_text, decode_counts, parse_conn_table
from lvstop.sources.genl import NetlinkError
from lvstop.sources.ipvs import (
    CMD_GET_DEST,
    IpvsReader,
    decode_dest,
    decode_dest_plain,
    decode_service,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "ipvs"
RECORDINGS = ["table-seed1.json", "table-seed2.json", "lab-d1-after-load.json"]


def load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((DATA / name).read_text())
    return doc


def replay(doc: dict[str, Any]) -> tuple[IpvsSnapshot, IpvsReader]:
    reader = IpvsReader(Replayer(doc["exchanges"]))
    return reader.read(), reader


@pytest.mark.parametrize("name", RECORDINGS)
def test_replayed_snapshot_equals_ipvsadm(name: str) -> None:
    doc = load(name)
    snap, _reader = replay(doc)
    diffs = ipvs_oracle.compare(snap, doc["ipvsadm"])
    assert not diffs, "\n".join(diffs[:20])
    assert len(snap.services) == len(ipvs_oracle.parse_save(doc["ipvsadm"]["save"]))


@pytest.mark.parametrize("name", RECORDINGS)
def test_replayed_snapshot_equals_recorded_json(name: str) -> None:
    doc = load(name)
    snap, _ = replay(doc)
    recorded = IpvsSnapshot.from_dict(doc["snapshot"])
    assert replace(snap, taken_at=0, wall_time=0) == replace(recorded, taken_at=0, wall_time=0)


def test_counters_recorded_after_load_are_not_all_zero() -> None:
    """The after-load recording exercises the counters (else the stats check proves little)."""
    snap, _ = replay(load("lab-d1-after-load.json"))
    svc = snap.service("tcp:10.0.5.96:8888")
    stats = snap.stats_of("tcp:10.0.5.96:8888")
    assert svc is not None and stats.conns > 0 and stats.inbytes > 0
    assert sum(rs.inactive_conns for rs in svc.real_servers) > 0


def test_oracle_comparison_can_fail() -> None:
    """Change one value of a correct snapshot: the comparison must notice."""
    doc = load("table-seed1.json")
    snap, _ = replay(doc)
    svc = next(s for s in snap.services if s.real_servers)
    rs = svc.real_servers[0]
    bad_rs = replace(rs, weight=rs.weight + 1)
    bad = replace(
        snap,
        services=tuple(
            replace(s, real_servers=(bad_rs, *s.real_servers[1:])) if s is svc else s
            for s in snap.services
        ),
    )
    assert any("weight" in d for d in ipvs_oracle.compare(bad, doc["ipvsadm"]))
    bad2 = replace(
        snap, services=tuple(replace(s, scheduler="xx") if s is svc else s for s in snap.services)
    )
    assert any("scheduler" in d for d in ipvs_oracle.compare(bad2, doc["ipvsadm"]))


def test_conn_table_recorded_after_load_agrees_with_ipvsadm_lnc() -> None:
    doc = load("lab-d1-after-load.json")
    entries, warnings = parse_conn_table(doc["ip_vs_conn"])
    assert not warnings and entries
    lnc = ipvs_oracle.parse_lnc(doc["ipvsadm_lnc"])
    assert sorted(
        (e.protocol, e.state, e.client_endpoint, e.virtual_endpoint, e.real_endpoint)
        for e in entries
    ) == sorted(lnc)
    counts = decode_counts(aggregate_text(doc["ip_vs_conn"]))
    assert sum(c.count for c in counts) == len(entries)


def dest_messages(doc: dict[str, Any]) -> list[bytes]:
    return [
        bytes.fromhex(m)
        for ex in doc["exchanges"]
        if ex["kind"] == "dump" and ex["cmd"] == CMD_GET_DEST
        for m in ex["replies"]
    ]


def test_decoder_and_plain_decoder_agree_on_recorded_messages() -> None:
    """Every recorded message decodes the same through ``decode_dest`` as through the plain
    decoder, again and again."""
    msgs = dest_messages(load("table-seed2.json"))
    first = [decode_dest(m, 0, len(m), "svc", 10) for m in msgs]
    again = [decode_dest(m, 0, len(m), "svc", 10) for m in msgs]
    plain = [decode_dest_plain(m, 0, len(m), "svc", 10) for m in msgs]
    assert first == again == plain


def _drop_attr(msg: bytes, nested_type: int, attr_type: int) -> bytes:
    """Remove one attribute from the nested attribute ``nested_type`` (fixing lengths)."""
    buf = bytearray(msg)
    for t, off, length in genl.iter_attrs(buf, genl.HDRLEN, len(buf)):
        if t != nested_type:
            continue
        for t2, off2, len2 in genl.iter_attrs(buf, off, off + length):
            if t2 == attr_type:
                start, size = off2 - 4, genl.align4(len2 + 4)
                del buf[start : start + size]
                struct.pack_into("=H", buf, off - 4, length + 4 - size)
                struct.pack_into("=I", buf, 0, len(buf))
                return bytes(buf)
    raise AssertionError("attribute not found")


def dest(message: bytes | bytearray) -> RealServer:
    """The real server one destination message holds (of service "k", AF_INET)."""
    found = decode_dest(message, 0, len(message), "k", 2)
    assert found is not None
    return found


def test_unexpected_layout_falls_back_to_the_generic_walk() -> None:
    """A kernel without STATS64 (older) is parsed through the 32-bit STATS instead."""
    msgs = dest_messages(load("lab-d1-after-load.json"))
    full = [dest(m) for m in msgs]
    older = [_drop_attr(m, 2, 12) for m in msgs]  # IPVS_CMD_ATTR_DEST / DEST_ATTR_STATS64
    parsed = [dest(m) for m in older]
    assert [(p.address, p.stats.conns, p.stats.inbytes) for p in parsed] == [
        (f.address, f.stats.conns, f.stats.inbytes) for f in full
    ]
    assert any(f.stats.conns for f in full)
    # and without the address-family attribute the service's family is used
    no_af = [_drop_attr(m, 2, 11) for m in msgs]
    assert [dest(m).family for m in no_af] == ["inet"] * len(msgs)


def test_service_parser_on_recorded_services() -> None:
    doc = load("table-seed1.json")
    svc_msgs = [
        bytes.fromhex(m)
        for ex in doc["exchanges"]
        if ex["kind"] == "dump" and ex["cmd"] == 4
        for m in ex["replies"]
    ]
    heads = [decode_service(m, 0, len(m)) for m in svc_msgs]
    assert len(heads) == len(ipvs_oracle.parse_save(doc["ipvsadm"]["save"]))
    assert all(h is not None for h in heads)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data())
def test_corrupted_messages_never_crash(data: st.DataObject) -> None:
    """Flipped bytes or truncation: a parsed value or a NetlinkError, never anything else."""
    doc = load("table-seed1.json")
    kind = data.draw(st.sampled_from([CMD_GET_DEST, 4]))
    msgs = [
        bytes.fromhex(m)
        for ex in doc["exchanges"]
        if ex["kind"] == "dump" and ex["cmd"] == kind
        for m in ex["replies"]
    ]
    msg = bytearray(data.draw(st.sampled_from(msgs)))
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(genl.HDRLEN, len(msg) - 1))
        msg[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(genl.HDRLEN, len(msg)))
    msg = msg[:cut]
    struct.pack_into("=I", msg, 0, len(msg))
    with contextlib.suppress(NetlinkError):
        if kind == CMD_GET_DEST:
            decode_dest(msg, 0, len(msg), "k", 2)
        else:
            decode_service(msg, 0, len(msg))


def test_steady_load_recording_replays_through_the_model() -> None:
    lines = (DATA / "lab-steady-load.jsonl").read_text().splitlines()
    snaps = [IpvsSnapshot.from_dict(json.loads(line)) for line in lines]
    assert len(snaps) >= 5
    assert [s.taken_at for s in snaps] == sorted(s.taken_at for s in snaps)
    for line, snap in zip(lines, snaps, strict=True):
        assert snap.to_dict() == json.loads(line)


def test_memo_reuses_unchanged_objects_and_only_those() -> None:
    doc = load("lab-d1-after-load.json")
    reader = IpvsReader(Replayer(doc["exchanges"]))
    first = reader.read()
    second = reader.read()
    assert replace(first, taken_at=0, wall_time=0) == replace(second, taken_at=0, wall_time=0)
    for (_, a), (_, b) in zip(first.real_servers(), second.real_servers(), strict=True):
        assert a is b  # the same bytes: the same frozen object
    # one real server's counters change: only that one is parsed again
    exchanges = json.loads(json.dumps(doc["exchanges"]))
    dest_ex = next(
        ex
        for ex in exchanges
        if ex["kind"] == "dump" and ex["cmd"] == CMD_GET_DEST and ex["replies"]
    )
    msg = bytearray.fromhex(dest_ex["replies"][0])
    old = dest(msg)
    pos = msg.rfind(struct.pack("=Q", old.stats.inbytes))  # in STATS64, after STATS
    assert pos > 0
    struct.pack_into("=Q", msg, pos, old.stats.inbytes + 1000)
    dest_ex["replies"][0] = msg.hex()
    reader2 = IpvsReader(Replayer(exchanges))
    reader2._rs_memo, reader2._service_heads = reader._rs_memo, reader._service_heads
    third = reader2.read()
    changed = [
        (a, b)
        for (_, a), (_, b) in zip(second.real_servers(), third.real_servers(), strict=True)
        if a is not b
    ]
    assert len(changed) == 1
    a, b = changed[0]
    assert b.stats.inbytes == a.stats.inbytes + 1000 and b.endpoint == a.endpoint
    # and without the memo the result is the same
    cold = IpvsReader(Replayer(exchanges), memo=False).read()
    assert replace(cold, taken_at=0, wall_time=0) == replace(third, taken_at=0, wall_time=0)


def test_service_deleted_between_the_dumps_is_dropped_not_an_error() -> None:
    import errno

    doc = load("lab-d1-after-load.json")
    exchanges = json.loads(json.dumps(doc["exchanges"]))
    dest_dumps = [ex for ex in exchanges if ex["kind"] == "dump" and ex["cmd"] == CMD_GET_DEST]
    assert len(dest_dumps) >= 2
    gone, empty = dest_dumps[0], dest_dumps[1]
    gone["replies"] = []
    empty["replies"] = []
    # the kernel's answer to GET_SERVICE: the first one is gone, the second exists (no dests)
    exchanges.append(
        {"kind": "request", "cmd": 4, "attrs": gone["attrs"], "errno": errno.ESRCH, "replies": []}
    )
    svc_reply = next(
        r
        for ex in doc["exchanges"]
        if ex["kind"] == "dump" and ex["cmd"] == 4
        for r in ex["replies"]
    )
    exchanges.append({"kind": "request", "cmd": 4, "attrs": empty["attrs"], "replies": [svc_reply]})
    full, _ = replay(doc)
    snap = IpvsReader(Replayer(exchanges)).read()
    assert len(snap.services) == len(full.services) - 1
    kept_empty = [s for s in snap.services if not s.real_servers]
    assert len(kept_empty) == 1


async def test_async_snapshot_runs_off_the_event_loop() -> None:
    import asyncio
    import threading

    doc = load("table-seed1.json")
    threads: set[int] = set()
    ticked = threading.Event()

    class Slow(Replayer):
        def dump(self, *a: Any, **k: Any) -> list[Any]:
            threads.add(threading.get_ident())
            import time

            time.sleep(0.002)  # a slow kernel: must not stall the loop
            # and the dumps last until the loop has ticked 5 times (at most 30 s once): judged
            # on that condition, not on how many ticks fit in a loaded machine's time
            ticked.wait(30)
            ticked.set()
            return super().dump(*a, **k)

    reader = IpvsReader(Slow(doc["exchanges"]))
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            if ticks >= 5:
                ticked.set()
            await asyncio.sleep(0.005)

    task = asyncio.create_task(ticker())
    snap = await reader.snapshot()
    task.cancel()
    assert len(snap.services) > 20
    assert threading.get_ident() not in threads
    assert ticks >= 5  # the loop kept running while the snapshot was read
