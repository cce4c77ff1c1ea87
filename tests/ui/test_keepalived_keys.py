"""keepalived in the dashboard: `K` asks it (unless signals are off), the age of its view
under the real servers, its undo warning in the drain / weight confirm dialogs."""

from __future__ import annotations

from collections.abc import Callable

from lvstop.tui.app import LvstopApp
from lvstop.tui.replay import Replay
from lvstop.tui.screens.confirm import ConfirmScreen
from lvstop.tui.screens.help import HelpScreen
from lvstop.tui.sources import KeepalivedView
from lvstop.tui.widgets.real_servers import RealServersTable
from tests.ui.conftest import CountingStates, Notices, make_app, settle, until
from tests.ui.test_keys import RS1, SIZE, select_rs1

WARNING = (
    "keepalived manages this real server (/etc/keepalived/keepalived.conf:42): a reload "
    "or a checker transition sets its weight back to 1; drain it in keepalived.conf "
    "(weight 0) to make it last"
)


def with_states(app: LvstopApp, view: KeepalivedView) -> CountingStates:
    states = CountingStates(view)
    app.sources.keepalived = states
    return states


async def test_k_asks_keepalived_and_the_view_age_shows(replay: Callable[[str], Replay]) -> None:
    rep = replay("steady")
    app = make_app(rep)
    states = with_states(
        app, KeepalivedView(states={RS1: "up"}, running=True, dumped_at=rep.clock.now - 185)
    )
    notices = Notices()
    async with app.run_test(size=SIZE, message_hook=notices.hook) as pilot:
        await settle(pilot, rep)
        rs_table = app.query_one(RealServersTable)
        await until(
            pilot,
            lambda: rs_table.border_title == "Real servers · keepalived's view 3m old · K asks",
            "the age of keepalived's view",
        )
        assert states.asked == 0  # nothing asked on its own
        await pilot.press("K")
        await until(pilot, lambda: states.asked == 1, "one round asked for")
        assert notices.any("asking keepalived")


async def test_k_refused_when_signals_are_off(replay: Callable[[str], Replay]) -> None:
    rep = replay("steady")
    app = make_app(rep, read_only=True)
    reason = "read-only (--keepalived-state allows it)"
    states = with_states(app, KeepalivedView(running=True, no_signals=reason))
    notices = Notices()
    async with app.run_test(size=SIZE, message_hook=notices.hook) as pilot:
        await settle(pilot, rep)
        rs_table = app.query_one(RealServersTable)
        title = f"Real servers · keepalived: config × kernel · not asked: {reason}"
        await until(
            pilot, lambda: rs_table.border_title == title, "the reason in the real servers' title"
        )
        await pilot.press("K")
        await until(pilot, lambda: notices.any(reason), "the refusal")
        rounds = states.rounds
        # the poller's next round came after the key, and did not ask either
        await until(pilot, lambda: states.rounds > rounds, "the keepalived poller's next round")
        assert states.asked == 0


async def test_drain_and_weight_dialogs_say_keepalived_will_undo_it(
    replay: Callable[[str], Replay],
) -> None:
    rep = replay("steady")
    app = make_app(rep)
    with_states(app, KeepalivedView(states={RS1: "up"}, warnings={RS1: WARNING}, running=True))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, rep)
        await select_rs1(pilot)
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.warning == WARNING
        shown = str(app.screen.query_one("#warning").render())
        assert "keepalived.conf:42" in shown and "back to 1" in shown
        await pilot.press("n")
        await pilot.pause()
        await pilot.press("w")
        await pilot.pause()
        await pilot.press("plus", "enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and app.screen.warning == WARNING
        await pilot.press("n")


async def test_k_is_in_help(replay: Callable[[str], Replay]) -> None:
    rep = replay("steady")
    app = make_app(rep)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, rep)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        rows = {what: key for key, what, _ in app.screen.bindings}
        assert rows["Ask keepalived"] == "K"
        assert any(b.id == "ask_keepalived" and b.key == "K" for b in app.PALETTE_BINDINGS)
