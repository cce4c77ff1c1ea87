"""lvstop's own rates from counter deltas (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lvstop.model.ipvs import IpvsSnapshot, RealServer, Service, Stats
from lvstop.track.rates import TOTAL_KEY, RateTracker, RingBuffer, delta_rates

SVC_KEY = "tcp:10.0.5.96:8888"


def snap(t: float, svc_conns: int, rs_conns: dict[str, int], services: int = 1) -> IpvsSnapshot:
    svcs = []
    stats = {}
    for i in range(services):
        key = SVC_KEY if i == 0 else f"tcp:10.0.5.96:{9000 + i}"
        rss = tuple(
            RealServer(
                addr, 8888, stats=Stats(conns=c, inpkts=c * 3, inbytes=c * 300), service_key=key
            )
            for addr, c in rs_conns.items()
        )
        svcs.append(
            Service(
                "tcp",
                "inet",
                "10.0.5.96",
                8888 if i == 0 else 9000 + i,
                real_servers=rss,
            )
        )
        stats[svcs[-1].key] = Stats(conns=svc_conns, inpkts=svc_conns * 3)
    return IpvsSnapshot(tuple(svcs), taken_at=t, service_stats=stats)


counters = st.integers(min_value=0, max_value=2**64 - 1)


@given(counters, st.integers(min_value=0, max_value=10**9), st.floats(0.01, 100))
def test_delta_rate_is_delta_over_time(base: int, delta: int, seconds: float) -> None:
    r = delta_rates(Stats(conns=base), Stats(conns=base + delta), seconds)
    assert r is not None
    assert r.cps == pytest.approx(delta / seconds)
    assert r.inpps == 0


@given(counters, st.integers(min_value=1, max_value=10**9))
def test_counter_going_down_is_a_reset(cur: int, drop: int) -> None:
    assert delta_rates(Stats(inbytes=cur + drop), Stats(inbytes=cur), 1.0) is None


def test_no_rate_for_non_positive_interval() -> None:
    assert delta_rates(Stats(), Stats(conns=5), 0.0) is None
    assert delta_rates(Stats(), Stats(conns=5), -1.0) is None


def test_tracker_new_removed_reset_and_history() -> None:
    tr = RateTracker(history=3)
    assert tr.update(snap(10.0, 0, {"10.0.5.91": 0})) == {}
    rs1 = f"{SVC_KEY}->10.0.5.91:8888"
    rs2 = f"{SVC_KEY}->10.0.5.92:8888"
    r = tr.update(snap(12.0, 20, {"10.0.5.91": 20, "10.0.5.92": 5}))
    assert r[SVC_KEY].cps == 10.0
    assert r[rs1].cps == 10.0 and r[rs1].inbps == 3000.0
    assert rs2 not in r  # new this poll: no rate yet
    assert r[TOTAL_KEY].cps == 10.0
    # rs1 reset (zeroed), rs2 goes on
    r = tr.update(snap(13.0, 25, {"10.0.5.91": 1, "10.0.5.92": 9}))
    assert rs1 not in r
    assert r[rs2].cps == 4.0
    assert tr.history(rs1) == [10.0]
    # rs1 removed: history forgotten
    r = tr.update(snap(14.0, 26, {"10.0.5.92": 10}))
    assert tr.history(rs1) == []
    assert tr.history(rs2) == [4.0, 1.0]
    for t in (15.0, 16.0, 17.0):
        tr.update(snap(t, 26, {"10.0.5.92": 10}))
    assert len(tr.history(rs2)) == 3  # ring buffer size


def test_same_snapshot_twice_keeps_last_rates() -> None:
    tr = RateTracker()
    tr.update(snap(1.0, 0, {}))
    first = tr.update(snap(2.0, 4, {}))
    assert tr.update(snap(2.0, 8, {})) == first


def test_total_sums_services() -> None:
    tr = RateTracker()
    tr.update(snap(0.0, 0, {}, services=3))
    r = tr.update(snap(1.0, 7, {}, services=3))
    assert r[TOTAL_KEY].cps == 21.0


def test_unknown_history_field() -> None:
    with pytest.raises(ValueError):
        RateTracker().history("x", "bogus")


@given(st.lists(st.floats(allow_nan=False), max_size=50), st.integers(1, 10))
def test_ring_buffer_keeps_last_n(values: list[float], size: int) -> None:
    rb = RingBuffer(size)
    for v in values:
        rb.append(v)
    assert rb.values() == values[-size:] if values else rb.values() == []
    assert len(rb) == min(size, len(values))


@given(st.lists(st.integers(0, 10**6), min_size=2, max_size=20))
def test_monotonic_counters_give_nonnegative_rates(increments: list[int]) -> None:
    tr = RateTracker()
    total = 0
    s = Service("udp", "inet", "10.0.5.97", 53)
    for i, inc in enumerate(increments):
        total += inc
        counters = {s.key: Stats(conns=total, outbytes=total * 2)}
        r = tr.update(IpvsSnapshot((s,), taken_at=float(i), service_stats=counters))
        if i:
            assert r[s.key].cps == inc
            assert r[s.key].outbps == 2 * inc
