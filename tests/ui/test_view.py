"""Pure view code (no Textual): rates over the kernel's 2 s stats period, shares, events,
rule and weight commands — on the lab recordings where there are some."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from lvstop.model.ipvs import IpvsSnapshot, RealServer, Service, Stats, Timeouts
from lvstop.model.vrrp import VrrpEvent
from lvstop.track.events import IpvsDiffer, vrrp_log_event
from lvstop.track.rates import RateTracker
from lvstop.track.window_rates import WindowRates
from lvstop.tui.replay import load_ipvs_frames
from lvstop.tui.view import real_server_rows, weight_shares
from lvstop.tui.writes import plan_timeouts, plan_weight

DATA = Path(__file__).resolve().parents[1] / "data" / "ui"
VIP1 = "tcp:10.0.5.96:8888"


def test_window_rates_smooth_the_kernels_two_second_counter_updates() -> None:
    frames = load_ipvs_frames(DATA / "steady.ipvs.jsonl")
    per_poll, window = RateTracker(), WindowRates()
    raw, smooth = [], []
    for frame in frames:
        per_poll.update(frame)
        window.update(frame)
        r, w = per_poll.rates(VIP1), window.rates(VIP1)
        if r is not None and w is not None:
            raw.append(r.cps)
            smooth.append(w.cps)
    # recorded in the lab at 1 s polls: the kernel's counters move every other poll
    assert min(raw) == 0 and max(raw) > 10
    assert min(smooth) > 0.5 * max(smooth)
    # the real server rates are computed on demand, over the same window
    rs = window.rates(f"{VIP1}->10.0.5.91:8888")
    assert rs is not None and rs.cps > 0


def _svc(scheduler: str, weights: list[int]) -> Service:
    key = "tcp:10.9.0.1:80"
    rss = tuple(
        RealServer(f"10.9.1.{i}", 80, weight=w, service_key=key) for i, w in enumerate(weights, 1)
    )
    return Service("tcp", "inet", "10.9.0.1", 80, scheduler=scheduler, real_servers=rss)


def test_weight_shares_rr_ignores_weights_wrr_does_not() -> None:
    rr = weight_shares(_svc("rr", [1, 3, 0]))
    assert list(rr.values()) == [50.0, 50.0, 0.0]
    wrr = weight_shares(_svc("wrr", [1, 3, 0]))
    assert list(wrr.values()) == [25.0, 75.0, 0.0]


def test_imbalance_and_drain_marks() -> None:
    svc = _svc("wrr", [1, 1])
    key = svc.key
    frames = []
    for t, (c1, c2) in enumerate([(0, 0), (10, 90), (20, 180)]):
        rss = (
            replace(svc.real_servers[0], stats=Stats(conns=c1)),
            replace(svc.real_servers[1], stats=Stats(conns=c2), weight=0 if t else 1),
        )
        frames.append(
            IpvsSnapshot(
                (replace(svc, real_servers=rss),),
                Timeouts(),
                taken_at=float(t),
                service_stats={key: Stats(conns=c1 + c2)},
            )
        )
    rates = WindowRates()
    for f in frames:
        rates.update(f)
    rows = {
        r.key: r
        for r in real_server_rows(frames[-1].service(key), rates, {f"{key}->10.9.1.2:80": 1})
    }
    first, second = rows[f"{key}->10.9.1.1:80"], rows[f"{key}->10.9.1.2:80"]
    assert first.cells[5:7] == ("10", "100") and first.marks[5] == "warn"  # imbalance
    assert second.cells[1] == "0 ⇢1" and second.row_mark == "dim"  # drained, returns to 1


def test_differ_attributes_writes() -> None:
    frames = load_ipvs_frames(DATA / "steady.ipvs.jsonl")
    differ = IpvsDiffer()
    differ.update(frames[0], 0.0)
    rs_key = f"{VIP1}->10.0.5.91:8888"

    def with_weight(frame: IpvsSnapshot, weight: int) -> IpvsSnapshot:
        services = tuple(
            replace(
                s,
                real_servers=tuple(
                    replace(rs, weight=weight) if rs.key == rs_key else rs for rs in s.real_servers
                ),
            )
            for s in frame.services
        )
        return replace(frame, services=services)

    differ.expect_write(rs_key, 0)
    events = differ.update(with_weight(frames[1], 0), 1.0)
    assert [e.text for e in events] == [
        "10.0.5.91:8888 in TCP  10.0.5.96:8888 weight 1 → 0 by lvstop"
    ]
    events = differ.update(with_weight(frames[2], 7), 2.0)
    assert events[0].text.endswith("weight 0 → 7 by someone else")
    gone = replace(frames[3], services=frames[3].services[1:])
    assert [e.kind for e in differ.update(gone, 3.0)] == ["service_removed"]


def test_failover_event_text_has_the_gap() -> None:
    event = VrrpEvent(
        time=1.0,
        kind="failover",
        family="inet",
        vrid=52,
        interface="eth0",
        master="10.0.5.90",
        previous="10.0.5.93",
        gap_ms=962.7,
    )
    assert vrrp_log_event(event).text == (
        "VRID 52 failover 10.0.5.93 → 10.0.5.90 after a 0.96s gap on eth0"
    )


def test_confirm_texts_and_commands() -> None:
    svc = _svc("rr", [1, 1])
    plan = plan_weight(svc, svc.real_servers[0], 0, "drain")
    assert plan.title == "Drain 10.9.1.1:80 in TCP 10.9.0.1:80"
    assert plan.command == "ipvsadm -e -t 10.9.0.1:80 -r 10.9.1.1:80 -m -w 0"
    tun = replace(svc.real_servers[0], forward="tunnel", tunnel_type="gue", tunnel_port=6080)
    assert plan_weight(svc, tun, 3).command.endswith("-i -w 3 --tun-type gue --tun-port 6080")
    t = plan_timeouts(Timeouts(), Timeouts(60, 120, 300))
    assert (t.before, t.after, t.command) == (
        "tcp 900s tcpfin 120s udp 300s",
        "tcp 60s tcpfin 120s udp 300s",
        "ipvsadm --set 60 120 300",
    )


def _frames_with_recreation(gap: list[int]) -> list[IpvsSnapshot]:
    """20 conns/s (folded into the counters every 2 s, as the kernel does) for 10 s, the
    service gone during the polls in ``gap`` (a keepalived restart), then recreated: its
    counters start again from 0."""
    frames = []
    born = 0
    for t in range(0, 30):
        if t in gap:
            frames.append(IpvsSnapshot((), taken_at=float(t)))
            born = t + 1
            continue
        if t == 11 and not gap:
            born = 11  # deleted and recreated between two polls
        folded = (t - born) // 2 * 2
        conns = 20 * folded
        stats = Stats(conns=conns, inpkts=5 * conns, inbytes=300 * conns)
        svc = Service("tcp", "inet", "10.9.0.1", 80, scheduler="rr")
        frames.append(IpvsSnapshot((svc,), taken_at=float(t), service_stats={svc.key: stats}))
    return frames


def test_window_rates_recover_right_after_ipvs_recreates_a_service() -> None:
    """Issue 11 §3: after a keepalived restart the window is never poisoned by the old
    counters: no rate ('-') until a whole window after the recreation, never a false 0, and
    the true rate from the first poll whose window lies after it."""
    key = "tcp:10.9.0.1:80"
    for gap, back in (([], 11), ([11, 12, 13], 14)):
        window = WindowRates()
        seen: dict[int, float | None] = {}
        for frame in _frames_with_recreation(gap):
            window.update(frame)
            r = window.rates(key)
            seen[int(frame.taken_at)] = None if r is None else r.cps
        after = {t: v for t, v in seen.items() if t >= back}
        assert all(v is None or v > 0 for v in after.values()), after
        first_rate = min(t for t, v in after.items() if v is not None)
        assert first_rate <= back + 2, after  # at the first poll with a full window
        assert all(abs((v or 0) - 20) <= 10 for t, v in after.items() if t >= back + 3), after
