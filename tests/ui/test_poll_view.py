"""What the dashboard computes only for what it shows gives what computing everything gives:
the services table's rows made on demand (``view.ServiceRows``) against ``service_row`` for
every service, their sort values against the rows' values, and the window rates of a partial
snapshot (real servers not read this poll have no rate, never a false one)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from lvstop.model.ipvs import IpvsSnapshot, RealServer, Service, Stats
from lvstop.track.window_rates import WindowRates
from lvstop.tui import view
from lvstop.tui.replay import load_ipvs_frames
from lvstop.tui.rows import RowList

DATA = Path(__file__).resolve().parents[1] / "data" / "ui"


def frames() -> list[IpvsSnapshot]:
    return load_ipvs_frames(DATA / "steady.ipvs.jsonl")


def test_service_rows_made_on_demand_are_the_rows_made_up_front() -> None:
    rates = WindowRates()
    for frame in frames():
        rates.update(frame)
        lazy = view.ServiceRows(frame, rates)
        rows = view.service_rows(frame, rates)
        listed = RowList(rows)
        assert list(lazy.keys()) == [row.key for row in rows] == list(listed.keys())
        for row in rows:
            assert lazy.row(row.key) == row
            assert lazy.search_text(row.key) == listed.search_text(row.key)
            for column in range(len(view.SERVICE_COLUMNS)):
                assert lazy.sort_value(row.key, column) == listed.sort_value(row.key, column)


counts = st.integers(0, 10**6)


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_service_sort_values_are_the_rows_values(data: st.DataObject) -> None:
    """Generated tables (weights 0 or not, connections, persistence) over a few polls."""
    rates = WindowRates()
    n = data.draw(st.integers(1, 6))
    snapshot = IpvsSnapshot()
    for tick in range(data.draw(st.integers(1, 4))):
        services = []
        stats = {}
        for i in range(n):
            key = f"tcp:10.1.0.{i}:80"
            rss = tuple(
                RealServer(
                    f"10.2.{i}.{r}",
                    80,
                    weight=data.draw(st.integers(0, 3)),
                    active_conns=data.draw(counts),
                    inactive_conns=data.draw(counts),
                    service_key=key,
                )
                for r in range(data.draw(st.integers(0, 4)))
            )
            services.append(
                Service(
                    "tcp",
                    "inet",
                    f"10.1.0.{i}",
                    80,
                    scheduler=data.draw(st.sampled_from(["rr", "wlc"])),
                    persistence_timeout=data.draw(st.sampled_from([0, 300])),
                    real_servers=rss,
                )
            )
            stats[key] = Stats(conns=tick * data.draw(st.integers(0, 100)))
        snapshot = IpvsSnapshot(tuple(services), taken_at=float(tick), service_stats=stats)
        rates.update(snapshot)
    lazy = view.ServiceRows(snapshot, rates)
    for row in view.service_rows(snapshot, rates):
        for column in range(len(view.SERVICE_COLUMNS)):
            assert lazy.sort_value(row.key, column) == row.values[column]


def test_real_servers_not_read_this_poll_have_no_rate() -> None:
    """A real server's rate needs both ends of its window read; then it is the rate with
    every poll read. Services' rates and histories never depend on it."""
    steady = frames()
    key = "tcp:10.0.5.96:8888"
    rs_key = f"{key}->10.0.5.91:8888"
    full, partial = WindowRates(), WindowRates()
    read = [i % 3 != 2 for i in range(len(steady))]  # every third poll carried them
    checked = 0
    for i, frame in enumerate(steady):
        full.update(frame)
        partial.update(replace(frame, real_servers_read=frozenset({key} if read[i] else ())))
        assert partial.rates(key) == full.rates(key)
        assert partial.history(key) == full.history(key)
        bases = [j for j in range(i) if frame.taken_at - steady[j].taken_at >= 2.0 - 1e-6]
        if not bases:
            assert partial.rates(rs_key) is None
            continue
        if read[i] and read[bases[-1]]:
            assert partial.rates(rs_key) == full.rates(rs_key) is not None
            checked += 1
        else:
            assert partial.rates(rs_key) is None
    assert checked
