"""The App's typed pollers: the IPVS poll asks for the real servers of the services on the
screen and of the selected one (the focus), not of the whole table; the table shows carried
real servers until their turn; a failing poller is reported once and started again."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import replace
from pathlib import Path

from conftest import until

from lvstop.model.host import HostStats
from lvstop.model.ipvs import IpvsSnapshot, RealServer, Service, Stats
from lvstop.tui.app import LvstopApp
from lvstop.tui.replay import FakeActions, FixedHostSource, load_json_documents
from lvstop.tui.sources import Sources
from lvstop.tui.widgets.services import ServicesTable

DATA = Path(__file__).resolve().parents[1] / "data" / "ui"


def table(services: int, tick: int) -> IpvsSnapshot:
    out = []
    stats = {}
    for s in range(services):
        key = f"tcp:10.3.{s // 250}.{s % 250}:80"
        rss = tuple(
            RealServer(
                f"10.4.{s // 250}.{s % 250}",
                80 + r,
                weight=1,
                stats=Stats(conns=tick * (r + 1)),
                service_key=key,
            )
            for r in range(3)
        )
        out.append(
            Service(
                "tcp",
                "inet",
                f"10.3.{s // 250}.{s % 250}",
                80,
                real_servers=rss,
            )
        )
        stats[key] = Stats(conns=tick * 6)
    return IpvsSnapshot(tuple(out), taken_at=float(tick), service_stats=stats)


class FocusSource:
    """Answers every poll with a 300-service table and keeps the focus each poll asked for."""

    def __init__(self, fail_first: int = 0) -> None:
        self.focus: list[frozenset[str] | None] = []
        self.fail_first = fail_first
        self.tick = 0

    async def snapshot(self, focus: Collection[str] | None = None) -> IpvsSnapshot:
        self.tick += 1
        if self.tick <= self.fail_first:
            raise OSError("IPVS dump failed: simulated")
        self.focus.append(None if focus is None else frozenset(focus))
        snap = table(300, self.tick)
        # a partial read, as IpvsReader.read(focus) gives (which real servers were read)
        return snap if focus is None else replace(snap, real_servers_read=frozenset(focus))

    async def close(self) -> None:
        return None


def app_with(source: FocusSource, incident_dir: Path | None = None) -> LvstopApp:
    host = HostStats.from_dict(load_json_documents(DATA / "host.jsonl")[0])
    return LvstopApp(
        Sources(ipvs=source, host=FixedHostSource(host), actions=FakeActions()),
        interval=0.05,
        incident_dir=incident_dir,
    )


async def test_the_ipvs_poll_asks_for_the_services_on_the_screen_and_the_selected_one() -> None:
    source = FocusSource()
    app = app_with(source)
    async with app.run_test(size=(120, 36)) as pilot:
        services = app.query_one(ServicesTable)
        await until(pilot, lambda: services.row_count == 300, "the table")
        await until(
            pilot,
            lambda: (
                len(source.focus) >= 3
                and source.focus[-1] is not None
                and 0 < len(services.keys_in_view()) < 300
                and set(services.keys_in_view()) <= source.focus[-1]
            ),
            "a poll with the rows in view",
        )
        last = source.focus[-1]
        assert last is not None and len(last) < 100  # the screen's rows, not the table
        # move down past the screen: the newly shown rows and the selected one are asked for
        await pilot.press("end")
        await until(
            pilot,
            lambda: services.cursor_key == list(services.ordered_keys)[-1],
            "the cursor on the last row",
        )
        selected = services.cursor_key
        shown = set(services.keys_in_view())
        await until(
            pilot,
            lambda: (
                source.focus[-1] is not None
                and selected in source.focus[-1]
                and shown <= source.focus[-1]
            ),
            "a poll with the new rows in view",
        )
        assert app.pollers.keys() == {"ipvs", "host", "keepalived"}


async def test_a_failing_poller_is_reported_once_and_started_again() -> None:
    source = FocusSource(fail_first=3)
    app = app_with(source)
    async with app.run_test(size=(120, 36)) as pilot:
        services = app.query_one(ServicesTable)
        await until(pilot, lambda: services.row_count == 300, "the table after the failures")
        log = app.event_log
        errors = [k for k in log.ordered_keys if "source_error" in k]
        assert len(errors) == 1  # said once, not at every retry


async def test_the_incident_snapshot_reads_every_real_server(tmp_path: Path) -> None:
    """The poll reads only the real servers on the screen; `S` reads them all."""
    source = FocusSource()
    app = app_with(source, tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        services = app.query_one(ServicesTable)
        await until(
            pilot,
            lambda: (
                services.row_count == 300
                and app.ipvs is not None
                and app.ipvs.real_servers_read is not None
            ),
            "a partial poll",
        )
        await pilot.press("S")
        await until(
            pilot, lambda: list(tmp_path.glob("lvstop-incident-*.json")), "the incident file"
        )
        assert None in source.focus  # a full read, on demand
        doc = json.loads(next(tmp_path.glob("lvstop-incident-*.json")).read_text())  # noqa: ASYNC240 (the app settled; a tmp dir)
        assert sum(len(s["real_servers"]) for s in doc["ipvs"]["services"]) == 300 * 3


def test_the_dashboard_runs_with_a_short_gil_switch_interval_and_gives_it_back() -> None:
    import sys

    from lvstop.tui.pollers import SWITCH_INTERVAL, responsive_loop

    before = sys.getswitchinterval()
    with responsive_loop():
        assert sys.getswitchinterval() == min(before, SWITCH_INTERVAL)
    assert sys.getswitchinterval() == before
