"""The reader's memo never shows stale data: a reader polling again and again (its memo on:
services' heads and counters, real servers by message bytes, idle services' objects) gives
what a cold reader (``memo=False``, every message decoded) gives from the same bytes, while
the recorded table's counters move: to new values, back to earlier ones, or to values
another service has."""

from __future__ import annotations

import copy
import gc
import json
import struct
import sys
import weakref
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ipvs_record import Replayer

from lvstop.sources import genl, ipvs
from lvstop.sources.ipvs import IpvsReader

DATA = Path(__file__).resolve().parents[1] / "data" / "ipvs"


def exchanges() -> list[dict[str, Any]]:
    doc = json.loads((DATA / "table-seed1.json").read_text())
    return list(doc["exchanges"])


def stats64_offsets(msg: bytes, nest: int) -> list[int]:
    """Where the ten u64 counters of the STATS64 nest of a service (``nest`` 1) or real
    server (2) message are."""
    pos, end = genl.HDRLEN, len(msg)
    while pos + 4 <= end:  # the message's attributes: find the service / real-server nest
        length, kind = genl.NLATTR.unpack_from(msg, pos)
        if kind & genl.NLA_TYPE_MASK == nest:
            pos, end = pos + 4, pos + length
            break
        pos += genl.align4(length)
    while pos + 4 <= end:  # its attributes: find STATS64 (12 for both kinds)
        length, kind = genl.NLATTR.unpack_from(msg, pos)
        if kind & genl.NLA_TYPE_MASK == 12:
            out, inner, stop = [], pos + 4, pos + length
            while inner + 4 <= stop:
                n, attr = genl.NLATTR.unpack_from(msg, inner)
                if attr != ipvs.STATS_ATTR_PAD:
                    out.append(inner + 4)
                inner += genl.align4(n)
            return out
        pos += genl.align4(length)
    raise AssertionError("no STATS64 in the message")


def with_counters(hex_msg: str, nest: int, values: tuple[int, ...]) -> str:
    msg = bytearray.fromhex(hex_msg)
    for offset, value in zip(stats64_offsets(bytes(msg), nest), values, strict=True):
        struct.pack_into("=Q", msg, offset, value)
    return msg.hex()


counter_sets = st.lists(
    st.tuples(*[st.integers(0, 2**64 - 1)] * 10).map(tuple), min_size=1, max_size=3
)


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data(), pool=counter_sets)
def test_a_polling_reader_gives_what_a_cold_reader_gives(
    data: st.DataObject, pool: list[tuple[int, ...]]
) -> None:
    recorded = exchanges()
    service_dump = next(
        ex for ex in recorded if ex["kind"] == "dump" and ex["cmd"] == ipvs.CMD_GET_SERVICE
    )
    dest_dumps = [ex for ex in recorded if ex["kind"] == "dump" and ex["cmd"] == ipvs.CMD_GET_DEST]
    polls = data.draw(st.integers(2, 4))
    answers: list[list[dict[str, Any]]] = []  # per poll: its service dump and dest dumps
    services = list(service_dump["replies"])
    dests = {id(ex): list(ex["replies"]) for ex in dest_dumps}
    for _ in range(polls):
        for i, msg in enumerate(services):  # each service: kept, or counters from the pool
            if data.draw(st.booleans()):
                services[i] = with_counters(msg, 1, data.draw(st.sampled_from(pool)))
        for ex in dest_dumps:  # one real server of some services moves too
            if ex["replies"] and data.draw(st.booleans()):
                values = data.draw(st.sampled_from(pool))
                dests[id(ex)][0] = with_counters(dests[id(ex)][0], 2, values)
        answers.append(
            [dict(service_dump, replies=list(services))]
            + [dict(ex, replies=list(dests[id(ex)])) for ex in dest_dumps]
        )
    # one recording: every poll's answers in turn (a Replayer gives each answer once)
    sequence = [ex for ex in recorded if ex["kind"] != "dump" or ex["cmd"] not in (4, 8)]
    for poll in answers:
        sequence += poll
    warm = IpvsReader(Replayer(copy.deepcopy(sequence)))
    cold_answers = Replayer(copy.deepcopy(sequence))
    for _ in range(polls):
        hot = warm.read()
        cold = IpvsReader(cold_answers, memo=False).read()
        assert hot.services == cold.services
        assert dict(hot.by_key()) == dict(cold.by_key())
        assert list(hot.by_key()) == [svc.key for svc in hot.services]
        assert dict(hot.service_stats) == dict(cold.service_stats)
        assert list(hot.service_stats) == list(hot.by_key())


def test_a_service_whose_counters_alone_moved_is_the_same_object_with_new_counters() -> None:
    """Only the counters of every service move: each Service object is the last poll's (its
    head and real servers unchanged), each service's counters the new ones."""
    recorded = exchanges()
    dump = next(ex for ex in recorded if ex["kind"] == "dump" and ex["cmd"] == ipvs.CMD_GET_SERVICE)
    moved = dict(
        dump,
        replies=[with_counters(m, 1, tuple(range(7, 17))) for m in dump["replies"]],
    )
    reader = IpvsReader(Replayer(recorded + [moved if ex is dump else ex for ex in recorded]))
    first, second = reader.read(), reader.read()
    assert len(second.services) == len(first.services) > 1
    for before, after in zip(first.services, second.services, strict=True):
        assert after is before
        assert second.stats_of(after.key) != first.stats_of(before.key)
        assert second.stats_of(after.key).conns == 7


class _Node:
    def __init__(self) -> None:
        self.other: Any = self


def test_a_read_puts_what_it_made_in_the_oldest_generation_and_leaks_nothing() -> None:
    """What a read made is promoted to the oldest generation (young collections never walk
    it); nothing stays frozen, and cyclic garbage made before the read is still collected
    by the next full collection."""
    reader = IpvsReader(Replayer(exchanges()))
    gc.collect()  # the young generation empty: no collection before the read
    cycle = _Node()
    gone = weakref.ref(cycle)
    del cycle
    snap = reader.read()
    assert gc.get_freeze_count() == 0
    oldest = {id(o) for o in gc.get_objects(generation=2)}
    assert id(snap.services[0]) in oldest and id(snap.service_stats) in oldest
    assert gone() is not None  # not collected yet: waits for a full collection
    gc.collect()
    assert gone() is None


def test_a_service_that_vanishes_and_comes_back_has_its_real_servers_read_again() -> None:
    """What a partial read carries is forgotten with its service: a service back after a poll
    without it shows the real servers the kernel gives now, not those it had before."""
    recorded = exchanges()
    service_dump = next(
        ex for ex in recorded if ex["kind"] == "dump" and ex["cmd"] == ipvs.CMD_GET_SERVICE
    )
    dests = next(
        ex
        for ex in recorded
        if ex["kind"] == "dump" and ex["cmd"] == ipvs.CMD_GET_DEST and len(ex["replies"]) >= 2
    )

    def ident(hex_msg: str) -> str | None:
        decoded = ipvs.decode_service(bytes.fromhex(hex_msg), 0, len(hex_msg) // 2)
        return None if decoded is None else decoded[0].ident.hex()

    victim = next(i for i, m in enumerate(service_dump["replies"]) if ident(m) == dests["attrs"])
    without = dict(
        service_dump, replies=[m for i, m in enumerate(service_dump["replies"]) if i != victim]
    )
    fewer = dict(dests, replies=dests["replies"][1:])  # when it is back: one real server less
    sequence = [ex for ex in recorded if ex is not dests and ex is not service_dump]
    sequence += [service_dump, without, service_dump, dests, fewer]
    clock = [1000.0]
    reader = IpvsReader(Replayer(copy.deepcopy(sequence)), clock=lambda: clock[0], sweep_every=1000)
    first = reader.read()
    key = first.services[victim].key
    assert len(first.services[victim].real_servers) == len(dests["replies"])
    clock[0] += 1
    gone = reader.read(focus=set())
    assert gone.service(key) is None
    clock[0] += 1
    back = reader.read(focus=set())  # not in focus, not due: read because it is new again
    svc = back.service(key)
    assert svc is not None and back.real_servers_fresh(key)
    assert len(svc.real_servers) == len(dests["replies"]) - 1
