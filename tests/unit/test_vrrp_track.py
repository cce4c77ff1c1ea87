"""Scripted advert sequences through the pure tracker: exact events, times and gaps."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from lvstop.model.vrrp import Advert, Family, VrrpEvent, VrrpSnapshot
from lvstop.track.vrrp import VrrpTracker, master_down_ms, skew_ms

D1, D2, D3 = "10.0.5.90", "10.0.5.93", "10.0.5.99"
VIP = ("10.0.5.96",)


def adv(
    t: float,
    src: str,
    prio: int,
    *,
    vrid: int = 51,
    addrs: tuple[str, ...] = VIP,
    interval: int = 1000,
    version: int = 2,
    auth: str = "simple",
    iface: str | None = None,
    family: Family = "inet",
    valid: bool = True,
    error: str | None = None,
) -> Advert:
    return Advert(
        time=t,
        interface=iface,
        family=family,
        src=src,
        ttl=255,
        version=version,
        vrid=vrid,
        priority=prio,
        interval_ms=interval,
        auth_type=auth if version == 2 else None,
        addresses=addrs,
        valid=valid,
        error=error,
    )


def run(
    adverts: Iterable[Advert], tracker: VrrpTracker | None = None, until: float | None = None
) -> tuple[VrrpTracker, list[VrrpEvent]]:
    tracker = tracker or VrrpTracker(per_interface=False)
    events: list[VrrpEvent] = []
    for a in adverts:
        events += tracker.feed(a)
    if until is not None:
        events += tracker.tick(until)
    return tracker, events


Brief = tuple[float, str, int | None, str | None, str | None, float | None]


def brief(events: Iterable[VrrpEvent]) -> list[Brief]:
    return [
        (
            round(e.time, 6),
            e.kind,
            e.vrid,
            e.master,
            e.previous,
            None if e.gap_ms is None else round(e.gap_ms, 3),
        )
        for e in events
    ]


def steady(
    src: str, prio: int, start: float, count: int, interval: float = 1.0, **kw: Any
) -> list[Advert]:
    return [adv(start + i * interval, src, prio, **kw) for i in range(count)]


def test_rfc_timers() -> None:
    # RFC 3768: skew (256 - prio)/256 s whatever the interval; RFC 5798: scaled by interval
    assert skew_ms(2, 1000, 10) == pytest.approx(960.9375)
    assert skew_ms(2, 3000, 10) == pytest.approx(960.9375)
    assert master_down_ms(2, 1000, 10) == pytest.approx(3960.9375)
    assert master_down_ms(3, 100, 100) == pytest.approx(360.9375)
    assert master_down_ms(3, 2000, 255) == pytest.approx(6007.8125)


def test_first_master_once() -> None:
    _, events = run(steady(D1, 100, 0, 5) + steady(D2, 10, 100, 0))
    assert brief(events) == [(0, "master", 51, D1, None, None)]


def test_kill_failover_gap_is_master_down_interval() -> None:
    seq = steady(D1, 100, 0, 5) + steady(D2, 10, 4 + 3.960938, 3)
    _, events = run(seq)
    assert brief(events) == [
        (0, "master", 51, D1, None, None),
        (7.960938, "failover", 51, D2, D1, 3960.938),
    ]
    assert events[1].sources == (D1, D2)


def test_resign_then_failover_after_skew() -> None:
    seq = [*steady(D1, 100, 0, 3), adv(2.5, D1, 0), *steady(D2, 10, 2.5 + 0.960938, 2)]
    _, events = run(seq)
    assert brief(events) == [
        (0, "master", 51, D1, None, None),
        (2.5, "resign", 51, None, D1, None),
        (3.460938, "failover", 51, D2, D1, 960.938),
    ]


def test_priority_zero_from_a_backup_is_not_a_resign() -> None:
    _, events = run([*steady(D1, 100, 0, 3), adv(1.5, D2, 0), *steady(D1, 100, 3, 2)])
    assert [e.kind for e in events] == ["master"]


def test_preempt_within_one_and_a_half_intervals() -> None:
    seq = steady(D2, 10, 0, 4) + steady(D1, 100, 3.4, 3)
    tracker, events = run(seq)
    assert brief(events) == [
        (0, "master", 51, D2, None, None),
        (3.4, "preempt", 51, D1, D2, 400.0),
    ]
    # the preempted master's last advert in flight must not count as split brain
    assert not [e for e in events if e.kind == "split_brain"]
    state = tracker.snapshot().vrid(51)
    assert state is not None and state.master == D1


def test_higher_priority_after_a_late_master_is_a_failover() -> None:
    seq = steady(D2, 10, 0, 3) + steady(D1, 100, 2 + 1.6, 2)
    _, events = run(seq)
    assert brief(events)[1] == (3.6, "failover", 51, D1, D2, 1600.0)


def test_lower_priority_advertiser_does_not_take_master() -> None:
    seq = sorted([*steady(D1, 100, 0, 3), adv(1.2, D2, 10)], key=lambda a: a.time)
    tracker, events = run(seq)
    assert [e.kind for e in events] == ["master"]
    assert tracker.master_of(seq[-1]) == D1


def test_silent_alone_uses_own_priority_and_waits_for_grace() -> None:
    tracker, _events = run(steady(D1, 100, 0, 3))
    mdi = master_down_ms(2, 1000, 100) / 1000  # 3.609375
    # not yet: a backup's first advert may come a few ms after the master-down time
    assert tracker.tick(2 + mdi + 0.4) == []
    silent = tracker.tick(2 + mdi + 0.5)
    assert brief(silent) == [(round(2 + mdi, 6), "silent", 51, None, D1, None)]
    assert tracker.tick(100) == []  # once
    snap = tracker.snapshot(100)
    assert snap.vrids[0].silent and snap.vrids[0].master is None


def test_silent_uses_the_slowest_known_backup() -> None:
    # D2 (prio 10) was seen once as a backup, then D1 stops: D2 would take over at 3.96 s
    seq = [adv(0, D1, 100), adv(0.5, D2, 10), *steady(D1, 100, 1, 2)]
    tracker, _ = run(seq)
    assert tracker.tick(2 + 3.960938 + 0.499) == []
    (silent,) = tracker.tick(2 + 3.960938 + 0.5)
    assert silent.time == pytest.approx(2 + 3.9609375)


def test_silent_from_pcap_time_via_feed_of_later_packet() -> None:
    # A later packet of another VRID advances time: silence is found without a live clock.
    seq = [*steady(D1, 100, 0, 2), adv(20, D2, 101, vrid=52, addrs=("10.0.5.97",))]
    _, events = run(seq)
    assert [(e.kind, e.vrid, round(e.time, 6)) for e in events] == [
        ("master", 51, 0),
        ("silent", 51, 4.609375),
        ("master", 52, 20),
    ]


def test_master_returning_after_silence() -> None:
    seq = steady(D1, 100, 0, 2) + steady(D1, 100, 10, 2)
    _, events = run(seq)
    assert brief(events) == [
        (0, "master", 51, D1, None, None),
        (4.609375, "silent", 51, None, D1, None),
        (10, "master", 51, D1, D1, 9000.0),
    ]


def test_failover_after_silence_measures_from_last_advert() -> None:
    seq = steady(D1, 100, 0, 2) + steady(D2, 10, 12, 2)
    _, events = run(seq)
    assert brief(events)[-1] == (12, "failover", 51, D2, D1, 11000.0)


def test_resign_with_nobody_taking_over_goes_silent() -> None:
    _tracker, events = run([*steady(D1, 100, 0, 2), adv(1.5, D1, 0)], until=20)
    assert [e.kind for e in events] == ["master", "resign", "silent"]
    assert events[-1].time == pytest.approx(1.5 + master_down_ms(2, 1000, 255) / 1000)


def split_sequence() -> list[Advert]:
    # D1 master; from t=10 D2 stops hearing D1 and becomes master too (both advertise);
    # at t=20 D2 hears D1 again and stops.
    seq = steady(D1, 100, 0, 30)
    seq += steady(D2, 10, 13.96, 6)  # 13.96 .. 18.96
    return sorted(seq, key=lambda a: a.time)


def test_split_brain_and_cleared() -> None:
    tracker, events = run(split_sequence(), until=30)
    # D1's advert at 15 is its second since D2 started (13.96), and D2 has two by then (13.96,
    # 14.96): two routers each advertising twice within one master-down interval.
    assert [e.kind for e in events] == ["master", "split_brain", "split_brain_cleared"]
    assert events[1].time == 15.0
    # cleared when D2's last advert (18.96) is one of its master-down intervals old
    assert events[2].time == pytest.approx(18.96 + 3.9609375)
    assert events[1].sources == (D1, D2) and events[1].master == D1
    assert events[2].sources == (D1, D2)
    state = tracker.snapshot(30).vrids[0]
    assert not state.split_brain
    assert state.split_brain_seconds == pytest.approx(18.96 + 3.9609375 - 15.0)


def test_split_brain_cleared_at_priority_zero() -> None:
    seq = [*split_sequence()[:-1], adv(18.5, D2, 0)]
    seq = sorted(seq, key=lambda a: a.time)
    _, events = run(seq)
    cleared = [e for e in events if e.kind == "split_brain_cleared"]
    assert [round(e.time, 6) for e in cleared] == [18.5]


def test_split_brain_ongoing_in_snapshot() -> None:
    tracker, _ = run([a for a in split_sequence() if a.time < 17])
    state = tracker.snapshot(17).vrids[0]
    assert state.split_brain and state.split_brain_since == 15.0
    assert state.split_brain_seconds == pytest.approx(17 - 15.0)


@pytest.mark.parametrize(
    "change,field",
    [
        ({"addrs": ("10.0.5.98",)}, "addresses"),
        ({"interval": 2000}, "interval_ms"),
        ({"version": 3}, "version"),
        ({"auth": "none"}, "auth_type"),
    ],
)
def test_conflict_names_the_field(change: dict[str, Any], field: str) -> None:
    seq = [*steady(D1, 100, 0, 4), adv(1.5, D3, 50, **change), adv(2.5, D3, 50, **change)]
    seq = sorted(seq, key=lambda a: a.time)
    tracker, events = run(seq)
    conflicts = [e for e in events if e.kind == "conflict"]
    assert len(conflicts) == 1  # once, not per advert
    # a v3 advert has no auth type: version and auth_type differ together
    expected = ("version", "auth_type") if field == "version" else (field,)
    assert conflicts[0].fields == expected
    assert conflicts[0].sources == (D1, D3) and conflicts[0].time == 1.5
    assert tracker.snapshot(3).vrids[0].conflict_fields == expected


def test_same_vip_set_in_another_order_is_no_conflict() -> None:
    seq = [
        adv(0, D1, 100, addrs=("10.0.5.96", "10.0.5.97")),
        adv(0.5, D2, 10, addrs=("10.0.5.97", "10.0.5.96")),
    ]
    _, events = run(seq)
    assert [e.kind for e in events] == ["master"]


def test_conflict_forgotten_when_the_rogue_is_gone() -> None:
    seq = [*steady(D1, 100, 0, 20), adv(1.5, D3, 50, addrs=("10.0.5.98",))]
    tracker, _ = run(sorted(seq, key=lambda a: a.time))
    assert tracker.snapshot(19).vrids[0].conflict_fields == ()


def test_bogus_event_and_counts() -> None:
    bad = adv(1, D3, 100, valid=False, error="checksum")
    tracker, events = run(
        [*steady(D1, 100, 0, 3), bad],
    )
    assert [(e.kind, e.error, e.vrid, e.sources) for e in events[1:]] == [
        ("bogus", "checksum", 51, (D3,))
    ]
    snap = tracker.snapshot(3)
    assert snap.bogus_total == 1 and snap.vrids[0].bogus == 1
    # a bogus packet is never a router's advert
    assert [r.src for r in snap.vrids[0].routers] == [D1]


def test_bogus_without_trustworthy_vrid() -> None:
    bad = Advert(
        time=1,
        interface=None,
        family="inet",
        src=D3,
        ttl=255,
        version=9,
        vrid=51,
        valid=False,
        error="version",
    )
    tracker, events = run([bad])
    assert events[0].vrid is None and tracker.snapshot(1).vrids == ()


def test_per_interface_and_per_family_are_separate() -> None:
    tracker = VrrpTracker(per_interface=True)
    seq = [
        adv(0, D1, 100, iface="eth0"),
        adv(0.1, D2, 10, iface="eth1"),
        adv(0.2, "fe80::1", 100, family="inet6", version=3, addrs=("2001:db8::96",)),
    ]
    _, events = run(seq, tracker)
    assert [(e.kind, e.interface, e.family, e.master) for e in events] == [
        ("master", "eth0", "inet", D1),
        ("master", "eth1", "inet", D2),
        ("master", None, "inet6", "fe80::1"),
    ]
    assert [v.key for v in tracker.snapshot().vrids] == ["inet:51@eth0", "inet:51@eth1", "inet6:51"]


def test_v3_fast_timers() -> None:
    # VRRPv3, 10 cs interval: D2 (priority 99) takes over 3 × 100 + 157 × 100 / 256 ms after
    seq = [adv(i * 0.1, D1, 100, version=3, interval=100) for i in range(10)]
    seq += [adv(0.9 + 0.361328125, D2, 99, version=3, interval=100)]
    _, events = run(seq)
    assert events[-1].kind == "failover" and events[-1].gap_ms == pytest.approx(361.328, abs=1e-3)


def test_host_mismatch_holding_a_vip_of_another_master() -> None:
    tracker = VrrpTracker(per_interface=False)
    run(steady(D2, 101, 0, 2, vrid=52, addrs=("10.0.5.97",)), tracker)
    assert tracker.set_local_addresses({D1, "10.0.5.96"}, 1.5) == []
    assert tracker.set_local_addresses({D1, "10.0.5.96", "10.0.5.97"}, 1.6) == []
    _, events = run(steady(D2, 101, 2, 2, vrid=52, addrs=("10.0.5.97",)), tracker)
    # the VIP appeared at 1.6: not yet at the next advert (3.0, within the grace of 1.5
    # intervals: keepalived may be about to act on it) ...
    assert events == []
    _, events = run(steady(D2, 101, 4, 1, vrid=52, addrs=("10.0.5.97",)), tracker)
    # ... reported once it lasted 1.5 intervals (at that time, found by the next advert)
    assert [(e.kind, round(e.time, 3)) for e in events] == [("host_mismatch", 3.1)]
    assert "holds 10.0.5.97 while 10.0.5.93 is master" in events[0].detail
    state = tracker.snapshot(3).vrids[0]
    assert state.local_vips == ("10.0.5.97",) and state.host_mismatch


def test_host_mismatch_master_without_its_vip() -> None:
    tracker = VrrpTracker(per_interface=False)
    tracker.set_local_addresses({D1}, 0)
    _, events = run(steady(D1, 100, 0, 4), tracker, until=3)
    # not at its second advert (1.0: keepalived adds the VIP right after the first, and the
    # address event may be late) but once it lasted 1.5 intervals
    assert [(e.kind, e.time) for e in events] == [("master", 0), ("host_mismatch", 1.5)]
    assert "master but does not hold 10.0.5.96" in events[1].detail
    tracker.set_local_addresses({D1, "10.0.5.96"}, 3.1)
    assert tracker.snapshot(3.2).vrids[0].host_mismatch is None


def test_snapshot_round_trips_through_dict() -> None:
    tracker, _ = run([*split_sequence()[:25], adv(5, D3, 1, valid=False, error="ttl")])
    snap = tracker.snapshot(16)
    again = VrrpSnapshot.from_dict(snap.to_dict())
    assert again == snap


def test_recent_events_kept_for_the_dashboard() -> None:
    tracker = VrrpTracker(per_interface=False, history=2)
    run(split_sequence(), tracker, until=30)
    assert [e.kind for e in tracker.snapshot().events] == ["split_brain", "split_brain_cleared"]


def test_advert_at_is_the_same_advert_at_another_time() -> None:
    import dataclasses

    # every field a distinct value, so that a field out of place cannot go unnoticed
    a = Advert(
        time=1.0,
        interface="eth0",
        family="inet6",
        src="fe80::1",
        src_mac="02:00::1",
        dst="ff02::12",
        ttl=254,
        version=3,
        vrid=7,
        priority=9,
        interval_ms=30,
        auth_type="simple",
        auth_data=b"pw",
        addresses=("2001:db8::1",),
        valid=False,
        error="ttl",
    )
    b = a.at(2.5)
    assert b.time == 2.5 and b == dataclasses.replace(a, time=2.5)


def test_no_host_mismatch_when_the_address_event_lags_a_failover() -> None:
    # tests/data/ui/failover.vrrp.jsonl (recorded on d1, d2's keepalived stopped): d1's first
    # advert as master of VRID 52 at 921.577, its second at 922.582; keepalived added the VIP
    # right after the first advert, but the recorder only told the tracker at 922.77 (it polled
    # the addresses once a second). Not a disagreement: nothing within 1.5 intervals.
    t0 = 1795652900.0
    tracker = VrrpTracker(per_interface=False)
    tracker.set_local_addresses({D1, "10.0.5.96"}, t0 + 17)
    seq = [
        adv(t0 + 19.618, D2, 101, vrid=52, addrs=("10.0.5.97",)),
        adv(t0 + 20.618, D2, 0, vrid=52, addrs=("10.0.5.97",)),
        *steady(D1, 11, t0 + 21.577, 2, vrid=52, addrs=("10.0.5.97",)),
    ]
    _, events = run(seq, tracker)
    assert [e.kind for e in events] == ["master", "resign", "failover"]
    assert tracker.set_local_addresses({D1, "10.0.5.96", "10.0.5.97"}, t0 + 22.77) == []
    _, events = run(
        steady(D1, 11, t0 + 23.577, 3, vrid=52, addrs=("10.0.5.97",)), tracker, until=t0 + 27
    )
    assert events == []
    assert tracker.snapshot(t0 + 27).vrids[0].host_mismatch is None
