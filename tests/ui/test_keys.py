"""Pilot tests of every key flow, on replayed lab recordings (see conftest)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Input

from lvstop.tui.replay import FakeActions, Replay
from lvstop.tui.screens.confirm import ConfirmScreen
from lvstop.tui.screens.connections import ConnectionsScreen
from lvstop.tui.screens.drain import DrainScreen
from lvstop.tui.screens.help import HelpScreen
from lvstop.tui.screens.timeouts import TimeoutsHelpScreen, TimeoutsScreen
from lvstop.tui.screens.weight import WeightScreen
from lvstop.tui.sources import KeepalivedView
from lvstop.tui.widgets.event_log import EventLog
from lvstop.tui.widgets.header import HeaderBar
from lvstop.tui.widgets.line_table import LineTable
from lvstop.tui.widgets.real_servers import RealServersTable
from lvstop.tui.widgets.services import ServicesTable
from lvstop.tui.widgets.vrrp import VrrpPanel
from tests.ui.conftest import CountingStates, Notices, make_app, row_of, settle, until

VIP1_SVC = "tcp:10.0.5.96:8888"
RS1 = f"{VIP1_SVC}->10.0.5.91:8888"
SIZE = (120, 36)
LAB_PCAP = (
    Path(__file__).resolve().parents[1]
    / "data"
    / "vrrp"
    / "lab_stop_keepalived_resign_then_failover.pcap"
)


def texts(table: LineTable) -> list[str]:
    return [" ".join(row_of(table, k).cells) for k in table.ordered_keys]


async def wait_workers(pilot: Pilot[int]) -> None:
    """Wait for the writes / snapshot / table reads started by a key (not the pollers), then
    for the App to handle what they posted."""
    app = pilot.app
    await until(
        pilot,
        lambda: (
            not [
                w
                for w in app.workers
                if w.group not in ("ipvs", "vrrp", "host", "keepalived") and not w.is_finished
            ]
        ),
        "the workers a key started",
    )
    await pilot.pause()


def drained_shown(app: App[Any]) -> bool:
    """rs1's row shows weight 0 with the weight it returns to (and no dialog is up)."""
    row = app.query_one(RealServersTable).get_row(RS1)
    return not isinstance(app.screen, DrainScreen) and row is not None and row.cells[1] == "0 ⇢1"


def palette_offers(app: App[Any], text: str) -> bool:
    from textual.command import CommandList

    lists = app.screen.query(CommandList)
    return bool(lists) and any(text in str(option.prompt) for option in lists.first()._options)


async def select_rs1(pilot: Pilot[int]) -> None:
    app = pilot.app
    assert app.query_one(ServicesTable).move_cursor_to(VIP1_SVC)
    await pilot.press("enter")
    await pilot.pause()
    rs_table = app.query_one(RealServersTable)
    assert rs_table.has_focus
    assert rs_table.move_cursor_to(RS1)
    await pilot.pause()


async def test_main_screen_shows_both_vips_rs_and_masters(replay: Callable[[str], Replay]) -> None:
    rep = replay("steady")
    app = make_app(rep)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, rep)
        services = app.query_one(ServicesTable)
        assert services.ordered_keys == [VIP1_SVC, "tcp:10.0.5.97:8888"]
        assert set(app.query_one(RealServersTable).ordered_keys) == {
            RS1,
            f"{VIP1_SVC}->10.0.5.92:8888",
        }
        panel = app.query_one(VrrpPanel)
        vrrp = {row_of(panel, k).cells[0]: row_of(panel, k).cells[1] for k in panel.ordered_keys}
        assert vrrp == {"51": "10.0.5.90", "52": "10.0.5.93"}
        # lab load flowed: the services' own rates are non-zero
        row = services.get_row(VIP1_SVC)
        assert row is not None and (row.values[5] or 0) > 0


async def test_drain_confirm_applies_and_logs(replay: Callable[[str], Replay]) -> None:
    rep = replay("steady")
    app = make_app(rep)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, rep)
        await select_rs1(pilot)
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.command == "ipvsadm -e -t 10.0.5.96:8888 -r 10.0.5.91:8888 -g -w 0"
        assert (app.screen.before, app.screen.after) == ("weight 1", "weight 0")
        await pilot.press("y")
        await wait_workers(pilot)
        await pilot.pause()
        assert rep.actions.calls == [("drain", RS1)]
        assert isinstance(app.screen, DrainScreen)
        assert any(
            "drained" in e.text and "lvstop" in e.text for e in app.query_one(EventLog).events
        )
        # the next poll shows the drained weight with the weight it returns to
        assert rep.ipvs is not None
        rep.ipvs.after_end = "hold"
        await pilot.press("escape")
        await until(pilot, lambda: drained_shown(app), "the next poll to show rs1 drained")
        row = app.query_one(RealServersTable).get_row(RS1)
        assert row is not None and row.cells[1] == "0 ⇢1"


async def test_drain_cancel_with_n_and_escape_changes_nothing(
    replay: Callable[[str], Replay],
) -> None:
    rep = replay("steady")
    app = make_app(rep)
    notices = Notices()
    async with app.run_test(size=SIZE, message_hook=notices.hook) as pilot:
        await settle(pilot, rep)
        await select_rs1(pilot)
        for key in ("n", "escape"):
            await pilot.press("d")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press(key)
            await pilot.pause()
            assert not isinstance(app.screen, ConfirmScreen)
        assert rep.actions.calls == []
        assert "cancelled: nothing changed" in notices.messages


async def test_kernel_refusal_is_shown_and_logged(replay: Callable[[str], Replay]) -> None:
    rep = replay("steady")
    rep.actions = FakeActions(
        fail="IPVS: set weight of 10.0.5.91:8888: ENOENT (no such destination)"
    )
    app = make_app(rep)
    notices = Notices()
    async with app.run_test(size=SIZE, message_hook=notices.hook) as pilot:
        await settle(pilot, rep)
        await select_rs1(pilot)
        await pilot.press("d", "enter")
        await wait_workers(pilot)
        await pilot.pause()
        assert rep.actions.calls == [("drain", RS1)]
        assert not isinstance(app.screen, DrainScreen)
        assert notices.any("refused: IPVS: set weight")
        assert any(
            e.kind == "write_failed" and "ENOENT" in e.text for e in app.query_one(EventLog).events
        )


async def test_no_cap_net_admin_refuses_before_any_dialog(replay: Callable[[str], Replay]) -> None:
    rep = replay("steady")
    rep.actions = FakeActions(refuse="writes need root or CAP_NET_ADMIN")
    app = make_app(rep)
    notices = Notices()
    async with app.run_test(size=SIZE, message_hook=notices.hook) as pilot:
        await settle(pilot, rep)
        await select_rs1(pilot)
        for key in ("d", "r", "w", "t"):
            await pilot.press(key)
            await pilot.pause()
            assert app.screen is app.screen_stack[0], key
        assert rep.actions.calls == []
        assert "writes need root or CAP_NET_ADMIN" in notices.messages


async def test_read_only_removes_writes(replay: Callable[[str], Replay]) -> None:
    rep = replay("steady")
    app = make_app(rep, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, rep)
        await select_rs1(pilot)
        for key in ("d", "r", "w", "t"):
            await pilot.press(key)
            await pilot.pause()
            assert app.screen is app.screen_stack[0], key
        assert rep.actions.calls == []
        assert "READ-ONLY" in str(app.query_one(HeaderBar).render())
        shown = {b.binding.action for b in app.screen.active_bindings.values() if b.enabled}
        assert not shown & {"drain", "restore", "weight", "timeouts"}
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert not [row for row in app.screen.bindings if row[1] == "Drain"]


async def test_restore_gives_back_the_remembered_weight(replay: Callable[[str], Replay]) -> None:
    rep = replay("steady")
    app = make_app(rep)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, rep)
        assert rep.ipvs is not None
        rep.ipvs.after_end = "hold"
        await select_rs1(pilot)
        await pilot.press("d", "y")
        await wait_workers(pilot)
        await pilot.press("escape")
        await until(pilot, lambda: drained_shown(app), "the next poll to show rs1 drained")
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert (app.screen.before, app.screen.after) == ("weight 0", "weight 1")
        await pilot.press("enter")
        await wait_workers(pilot)
        assert rep.actions.calls == [("drain", RS1), ("restore", RS1)]


async def test_weight_steps_then_confirm(replay: Callable[[str], Replay]) -> None:
    rep = replay("steady")
    app = make_app(rep)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, rep)
        await select_rs1(pilot)
        await pilot.press("w")
        await pilot.pause()
        assert isinstance(app.screen, WeightScreen)
        await pilot.press("plus", "plus", "plus", "minus")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.after == "weight 3"
        assert app.screen.command.endswith("-r 10.0.5.91:8888 -g -w 3")
        await pilot.press("y")
        await wait_workers(pilot)
        assert rep.actions.calls == [("weight", (RS1, 3))]


async def test_weight_escape_cancels(replay: Callable[[str], Replay]) -> None:
    rep = replay("steady")
    app = make_app(rep)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, rep)
        await select_rs1(pilot)
        await pilot.press("w", "escape")
        await pilot.pause()
        assert app.screen is app.screen_stack[0]
        assert rep.actions.calls == []


async def test_timeouts_edit_confirm_and_explanation(replay: Callable[[str], Replay]) -> None:
    rep = replay("steady")
    app = make_app(rep)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, rep)
        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, TimeoutsScreen)
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, TimeoutsHelpScreen)
        await pilot.press("escape")
        await pilot.pause()
        tcp = app.screen.query_one("#tcp", Input)
        tcp.value = "60"
        tcp.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.command == "ipvsadm --set 60 120 300"
        await pilot.press("y")
        await wait_workers(pilot)
        assert [c[0] for c in rep.actions.calls] == ["timeouts"]
        assert rep.actions.calls[0][1].tcp == 60
        await pilot.press("T")
        await pilot.pause()
        assert isinstance(app.screen, TimeoutsHelpScreen)


async def test_filter_and_sort(replay: Callable[[str], Replay]) -> None:
    rep = replay("steady")
    app = make_app(rep)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, rep)
        services = app.query_one(ServicesTable)
        await pilot.press("slash", "9", "7")
        await pilot.pause()
        assert services.ordered_keys == ["tcp:10.0.5.97:8888"]
        await pilot.press("enter")
        assert services.has_focus and services.filter_text == "97"
        await pilot.press("slash", "escape")
        await pilot.pause()
        assert len(services.ordered_keys) == 2 and services.filter_text == ""
        await pilot.press("s")
        assert services.sort_column == "service"
        await pilot.press("s", "s", "s")  # Sched, RS up, Active: numeric, largest first
        assert services.sort_column == "active" and services.sort_reverse


async def test_pause_stops_polling(replay: Callable[[str], Replay]) -> None:
    rep = replay("steady")
    app = make_app(rep, after_end="hold")
    states = CountingStates(KeepalivedView(watched=False))
    app.sources.keepalived = states
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, rep)
        await pilot.press("p")
        # paused: a poll in flight already counted (the count is taken as it starts)
        await until(
            pilot,
            lambda: app.paused and "PAUSED" in str(app.query_one(HeaderBar).render()),
            "the PAUSED badge",
        )
        assert rep.ipvs is not None
        polls = rep.ipvs.polls
        # the keepalived poller keeps its pace (≥ 2 s a round, 40 IPVS intervals): two of its
        # rounds pass while paused, with no IPVS poll
        rounds = states.rounds
        await until(pilot, lambda: states.rounds >= rounds + 2, "two keepalived rounds")
        assert rep.ipvs.polls == polls
        assert "PAUSED" in str(app.query_one(HeaderBar).render())
        await pilot.press("p")
        await until(
            pilot, lambda: rep.ipvs is not None and rep.ipvs.polls > polls, "polling to resume"
        )


async def test_incident_snapshot_file(replay: Callable[[str], Replay], tmp_path: Path) -> None:
    rep = replay("failover")
    app = make_app(rep, incident_dir=tmp_path)
    notices = Notices()
    async with app.run_test(size=SIZE, message_hook=notices.hook) as pilot:
        await settle(pilot, rep)
        await pilot.press("S")
        await wait_workers(pilot)
        await pilot.pause()
        files = list(tmp_path.glob("lvstop-incident-*.json"))  # noqa: ASYNC240 (the app settled; a tmp dir)
        assert len(files) == 1
        assert notices.any(str(files[0]))
        doc = json.loads(files[0].read_text())
        assert doc["ipvs"]["schema"] == "lvstop.dump/1"
        assert "-A -t 10.0.5.96:8888 -s rr" in doc["ipvsadm_rules"]
        assert "-a -t 10.0.5.96:8888 -r 10.0.5.91:8888 -g -w 1" in doc["ipvsadm_rules"]
        assert {v["vrid"] for v in doc["vrrp"]["vrids"]} == {51, 52}
        assert doc["host"]["hostname"] == rep.host.hostname
        assert any("VRID 52" in e["text"] for e in doc["events"])


async def test_connections_view_filters_and_counts(replay: Callable[[str], Replay]) -> None:
    rep = replay("steady")
    app = make_app(rep)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, rep)
        await pilot.press("c")
        await wait_workers(pilot)
        await pilot.pause()
        assert isinstance(app.screen, ConnectionsScreen)
        total = len(app.screen.entries)
        assert total > 0
        table = app.screen.query_one(LineTable)
        assert len(table.ordered_keys) == total
        await pilot.press("slash")
        for ch in "rs=10.0.5.91":
            await pilot.press(ch)
        await pilot.pause()
        keys = table.ordered_keys
        assert 0 < len(keys) < total
        assert all("10.0.5.91" in table.get_row(k).cells[2] for k in keys)  # type: ignore[union-attr]
        summary = str(app.screen.query_one("#summary").render())
        assert "per real server: 10.0.5.91:8888" in summary
        await pilot.press("enter", "escape")
        await pilot.pause()
        assert app.screen is app.screen_stack[0]


async def test_help_lists_live_bindings(replay: Callable[[str], Replay]) -> None:
    rep = replay("steady")
    app = make_app(rep)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, rep)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        rows = {what: key for key, what, _ in app.screen.bindings}
        assert rows["Drain"] == "d" and rows["Snapshot"] == "S" and rows["Quit"] == "q"
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.screen_stack[0]


async def test_command_palette_runs_drain(replay: Callable[[str], Replay]) -> None:
    rep = replay("steady")
    app = make_app(rep)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, rep)
        await select_rs1(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        for ch in "Drain":
            await pilot.press(ch)
        await until(pilot, lambda: palette_offers(app, "Drain"), "the palette to offer Drain")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirm dialog")


async def test_failover_and_split_brain_reach_the_panel_and_log(
    replay: Callable[[str], Replay],
) -> None:
    for state, vrid, kind, badge in (
        ("failover", 52, "failover", None),
        ("split", 51, "split_brain", "SPLIT-BRAIN"),
    ):
        rep = replay(state)
        app = make_app(rep)
        notices = Notices()
        async with app.run_test(size=SIZE, message_hook=notices.hook) as pilot:
            await settle(pilot, rep)
            events = app.query_one(EventLog).events
            assert any(e.kind == kind and f"VRID {vrid}" in e.text for e in events), state
            panel = app.query_one(VrrpPanel)
            row = panel.get_row(f"inet:{vrid}@eth0")
            assert row is not None
            if badge:
                assert badge in row.cells[6]
            else:
                assert row.cells[1] == "10.0.5.90" and row.cells[2] == "yes"


async def test_source_failure_is_visible_and_stale(replay: Callable[[str], Replay]) -> None:
    rep = replay("steady")
    app = make_app(rep, after_end="fail")
    notices = Notices()
    async with app.run_test(size=SIZE, message_hook=notices.hook) as pilot:
        await settle(pilot, rep)
        await until(pilot, lambda: notices.any("replay ended"), "the failed poll's notification")
        await until(pilot, lambda: app.query_one(ServicesTable).stale, "the stale table")
        assert app.query_one(ServicesTable).stale
        assert "STALE: no answer" in str(app.query_one(ServicesTable).border_title)
        assert any(e.kind == "source_error" for e in app.query_one(EventLog).events)
        assert "ipvs STALE" in str(app.query_one(HeaderBar).render())
        # one notice, not one per retry
        assert sum("replay ended" in m for m in notices.messages) == 1


async def test_empty_namespace_says_so(replay: Callable[[str], Replay]) -> None:
    rep = replay("empty")
    app = make_app(rep)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, rep)
        table = app.query_one(ServicesTable)
        assert table.row_count == 0
        line = "".join(s.text for s in table.render_line(1))
        assert "no IPVS services in this namespace — is keepalived running?" in line


async def test_quit_keys(replay: Callable[[str], Replay]) -> None:
    for key in ("q", "ctrl+c"):
        rep = replay("steady")
        app = make_app(rep)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, rep)
            await pilot.press(key)
            await pilot.pause()
        assert app.return_code == 0, key


async def test_quit_waits_for_a_write_in_flight(replay: Callable[[str], Replay]) -> None:
    rep = replay("steady")
    rep.actions = FakeActions(delay=2.0)
    app = make_app(rep)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, rep)
        await select_rs1(pilot)
        await pilot.press("d", "y")
        await until(pilot, lambda: bool(rep.actions.calls), "the write to start (it takes 2 s)")
        assert [w for w in app.workers if w.group == "write" and not w.is_finished]
        # ctrl+c: quit from any screen (q would close the drain progress screen the write
        # opens, when it is up before the key arrives)
        await pilot.press("ctrl+c")
        for _ in range(3000):  # the app leaves once the write is done; up to 60 s
            if app.return_code is not None:
                break
            await asyncio.sleep(0.02)
    assert rep.actions.calls == [("drain", RS1)]
    assert rep.actions.weights == {RS1: 0}  # finished, not cut off
    assert app.return_code == 0


async def test_resize_to_80x24_and_back_keeps_rows_and_cursor(
    replay: Callable[[str], Replay],
) -> None:
    rep = replay("steady")
    app = make_app(rep)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, rep)
        await select_rs1(pilot)
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert app.screen.has_class("-narrow")
        rs = app.query_one(RealServersTable)
        assert rs.cursor_key == RS1
        await pilot.resize_terminal(160, 48)
        await pilot.pause()
        assert app.screen.has_class("-wide") and rs.cursor_key == RS1


async def test_incident_snapshot_saves_recent_vrrp_adverts_as_pcap(
    replay: Callable[[str], Replay], tmp_path: Path
) -> None:
    """`S` writes the VRRP source's recent packets next to the JSON; tcpdump-readable pcap,
    read back with our reader: the same adverts (a lab capture of a failover)."""
    from lvstop.sources.pcap import PcapReader, read_adverts

    recorded = list(read_adverts(PcapReader(LAB_PCAP)))
    rep = replay("failover")
    app = make_app(rep, incident_dir=tmp_path)
    assert rep.vrrp is not None
    for advert in recorded:
        rep.vrrp.adverts.add_advert(advert)
    notices = Notices()
    async with app.run_test(size=SIZE, message_hook=notices.hook) as pilot:
        await settle(pilot, rep)
        await pilot.press("S")
        await wait_workers(pilot)
        await pilot.pause()
        (json_file,) = tmp_path.glob("lvstop-incident-*.json")  # noqa: ASYNC240 (the app settled; a tmp dir)
        (pcap_file,) = tmp_path.glob("lvstop-incident-*.pcap")  # noqa: ASYNC240 (the app settled; a tmp dir)
        assert pcap_file.stem == json_file.stem
        assert notices.any(str(pcap_file))
        doc = json.loads(json_file.read_text())
        valid = [a for a in recorded if a.valid]
        assert doc["vrrp_pcap"] == {"file": pcap_file.name, "packets": len(valid)}
        saved = list(read_adverts(PcapReader(pcap_file)))
        assert len(saved) == len(valid) >= 5
        assert [(a.time, a.vrid, a.src, a.priority, a.addresses) for a in saved] == [
            (a.time, a.vrid, a.src, a.priority, a.addresses) for a in valid
        ]
        # the resignation (priority 0) and the failover are in it
        assert any(a.priority == 0 for a in saved)
        assert any(len({a.src for a in saved if a.vrid == v}) == 2 for v in (51, 52))


async def test_incident_snapshot_without_adverts_has_no_pcap(
    replay: Callable[[str], Replay], tmp_path: Path
) -> None:
    rep = replay("steady")
    app = make_app(rep, incident_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, rep)
        await pilot.press("S")
        await wait_workers(pilot)
        assert len(list(tmp_path.glob("*.json"))) == 1  # noqa: ASYNC240 (the app settled; a tmp dir)
        assert not list(tmp_path.glob("*.pcap"))  # noqa: ASYNC240 (the app settled; a tmp dir)
        assert "vrrp_pcap" not in json.loads(next(tmp_path.glob("*.json")).read_text())  # noqa: ASYNC240 (the app settled; a tmp dir)


async def test_event_log_follows_the_newest_unless_the_user_moved(
    replay: Callable[[str], Replay],
) -> None:
    from lvstop.track.events import LogEvent

    rep = replay("steady")
    app = make_app(rep)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, rep)
        log = app.query_one(EventLog)
        t0 = rep.clock()
        for n in range(30):
            log.add([LogEvent(t0 + n, "test", f"event {n}")])
            await pilot.pause()
        assert log.cursor == 0 and log.scroll_offset.y == 0
        assert log.get_row(log.ordered_keys[0]).cells[-1] == "event 29"  # type: ignore[union-attr]
        log.focus()
        await pilot.press("down", "down")
        held = log.cursor_key
        log.add([LogEvent(t0 + 40, "test", "event 40")])
        await pilot.pause()
        assert log.cursor_key == held and log.cursor == 3
