"""The weight and timeouts dialogs refuse what the write would refuse, before any confirm
dialog (issue 10, item 8): timeouts 0..INT_MAX/HZ at HZ=1000 (the kernel's limit), weight
0..65535 (lvstop's writes; the kernel takes up to INT_MAX). The limits are checked against
the lab kernel in tests/lab/test_ipvs_limits_lab.py."""

from __future__ import annotations

from collections.abc import Callable

from textual.pilot import Pilot
from textual.widgets import Input

from lvstop.model.ipvs import MAX_TIMEOUT, MAX_WEIGHT
from lvstop.tui.replay import Replay
from lvstop.tui.screens.confirm import ConfirmScreen
from lvstop.tui.screens.timeouts import TimeoutsScreen
from lvstop.tui.screens.weight import WeightScreen
from tests.ui.conftest import make_app, settle, until
from tests.ui.test_keys import SIZE, select_rs1


async def type_weight(pilot: Pilot[int], text: str) -> None:
    field = pilot.app.screen.query_one("#weight", Input)
    field.value = ""
    field.focus()
    await pilot.press(*text)
    await pilot.press("enter")
    await pilot.pause()


async def test_weight_above_65535_is_refused_in_the_dialog(replay: Callable[[str], Replay]) -> None:
    rep = replay("steady")
    app = make_app(rep)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, rep)
        await select_rs1(pilot)
        await pilot.press("w")
        await pilot.pause()
        assert isinstance(app.screen, WeightScreen)
        await type_weight(pilot, "999999")  # the field takes 5 digits
        assert app.screen.query_one("#weight", Input).value == "99999"
        assert isinstance(app.screen, WeightScreen)
        error = str(app.screen.query_one("#error").render())
        assert error == f"a weight is a whole number from 0 to {MAX_WEIGHT}"
        await type_weight(pilot, str(MAX_WEIGHT + 1))
        assert isinstance(app.screen, WeightScreen)
        # "+" at the top stays at the top
        app.screen.query_one("#weight", Input).value = str(MAX_WEIGHT)
        await pilot.press("plus", "enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.after == f"weight {MAX_WEIGHT}"
        await pilot.press("n")
        await pilot.pause()
        assert rep.actions.calls == []


async def test_timeouts_above_the_kernel_limit_are_refused_in_the_dialog(
    replay: Callable[[str], Replay],
) -> None:
    rep = replay("steady")
    app = make_app(rep)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, rep)
        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, TimeoutsScreen)
        for name in ("tcp", "tcpfin", "udp"):
            field = app.screen.query_one(f"#{name}", Input)
            field.value = ""
            field.focus()
            await pilot.press(*"99999999")  # one digit more than the field takes
            assert field.value == "9999999"
            field.value = str(MAX_TIMEOUT + 1)
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, TimeoutsScreen)
            assert str(app.screen.query_one("#error").render()) == (
                f"{name}: seconds from 0 to {MAX_TIMEOUT} (the kernel's limit)"
            )
            field.value = str(MAX_TIMEOUT)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.command == f"ipvsadm --set {MAX_TIMEOUT} {MAX_TIMEOUT} {MAX_TIMEOUT}"
        await pilot.press("y")
        await until(pilot, lambda: bool(rep.actions.calls), "the timeouts write")
        assert [c[0] for c in rep.actions.calls] == ["timeouts"]
        assert rep.actions.calls[0][1].tcp == MAX_TIMEOUT
