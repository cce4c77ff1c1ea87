"""Text from outside shown as itself in the dashboard: never parsed as markup, control
characters shown visibly (issue 10, item 2). A keepalived instance named ``VI_[/]1`` in an
unclosed block used to end the dashboard with a MarkupError through the error notification."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from textual.app import App

from lvstop.model.vrrp import Advert
from lvstop.safetext import escape_controls, has_controls
from lvstop.sources.keepalived_conf import KeepalivedConfigError, parse_text
from lvstop.track.events import LogEvent
from lvstop.track.vrrp import VrrpTracker
from lvstop.tui.replay import Replay, load_state
from lvstop.tui.screens.confirm import ConfirmScreen
from lvstop.tui.widgets.line_table import LineTable
from tests.ui.conftest import DATA, make_app, settle

#: markup-looking and control-laden text, as a packet, config or file name may carry it
HOSTILE = (
    st.lists(
        st.sampled_from(
            [
                "[/]",
                "[b]",
                "[link=x]",
                "[",
                "]",
                "\\",
                "\x1b",
                "\x1b]0;t\x07",
                "\r",
                "\x9b",
                "\x7f",
                "\x00",
                "\t",
                "é",
                "VI_",
                "$x",
            ]
        )
        | st.text(max_size=2),
        min_size=1,
        max_size=6,
    )
    .map("".join)
    .filter(lambda s: s.strip() != "")
)


async def _wait_for(condition: Callable[[], object], what: str) -> None:
    for _ in range(3000):  # a generous deadline: the machine is shared
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def _toast_texts(app: App[Any]) -> list[str]:
    return [str(toast.render()) for toast in app.screen.query("Toast")]


def _table_text(table: LineTable) -> str:
    return "\n".join(table.render_line(y).text for y in range(table.size.height))


def _config_error(text: str) -> KeepalivedConfigError:
    """The error keepalived would exit with on ``text``, as lvstop raises it."""
    cfg = parse_text(text)
    assert cfg.errors, "a config keepalived refuses must carry an error"
    first = cfg.errors[0]
    return KeepalivedConfigError(first.file, first.line, first.message)


def test_unclosed_block_error_quotes_the_markup_name() -> None:
    # an unclosed block is keepalived's warning; the missing VRID its VRRP process's exit
    error = _config_error("vrrp_instance VI_[/]1 {\n  state MASTER\n")
    assert "VI_[/]1" in str(error)


async def test_config_error_with_markup_in_a_worker_is_a_notification(
    replay: Callable[[str], Replay],
) -> None:
    rep = replay("steady")
    app = make_app(rep)
    error = _config_error("vrrp_instance VI_[/]1 {\n  state MASTER\n  [b]unclosed[/b]\n")

    def failing() -> None:
        raise error

    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        await settle(pilot, rep)
        app.run_worker(
            failing,
            name="config",
            description="keepalived config [red]",
            thread=True,
            exit_on_error=False,
        )
        await _wait_for(
            lambda: any(str(error) in t for t in _toast_texts(app)), "the error's toast"
        )
        await pilot.pause()
        assert app.is_running
        assert any("keepalived config [red]" in t for t in _toast_texts(app))


async def _show_everywhere(strings: list[str]) -> None:
    app = make_app(load_state("empty", DATA))
    async with app.run_test(size=(300, 50), notifications=True) as pilot:
        now = app.sources.clock()
        tracker = VrrpTracker(per_interface=True)
        for i, s in enumerate(strings):
            app.notify(s, title=s)
            app.log_events([LogEvent(now + i, "source_error", s, "error", "lvstop")])
            tracker.feed(
                Advert(
                    now,
                    s,
                    "inet",
                    f"10.0.5.{i + 1}",
                    None,
                    "224.0.0.18",
                    255,
                    2,
                    50 + i,
                    100,
                    1000,
                    "none",
                    b"",
                    ("10.0.5.96",),
                    True,
                    None,
                ),
                now,
            )
        app.vrrp = tracker.snapshot(now)
        await pilot.pause()
        await _wait_for(lambda: len(_toast_texts(app)) >= len(strings), "the toasts")
        shown = _toast_texts(app)
        events = _table_text(app.event_log)
        vrrp = _table_text(app.vrrp_panel)
        for s in strings:
            visible = escape_controls(s, keep_newlines=False)
            assert any(escape_controls(s) in t for t in shown), (s, shown)
            assert visible in events, (s, events)
            # the interface column is 6 wide: a longer name is cut to 5 and "…"
            assert (visible if len(visible) <= 6 else visible[:5] + "…") in vrrp, (s, vrrp)
        for text in (*shown, events, vrrp):
            assert not has_controls(text)
        app.push_screen(
            ConfirmScreen(
                f"weight of {strings[0]}", strings[0], strings[-1], f"ipvsadm -e {strings[0]}"
            )
        )
        await pilot.pause()
        labels = [str(w.render()) for w in app.screen.query("Label, Static")]
        assert any(escape_controls(f"weight of {strings[0]}") in t for t in labels), labels
        assert not any(has_controls(t) for t in labels)
        assert app.is_running


# each example is one dashboard session (seconds on a loaded machine): no shrinking phase
@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
)
@given(strings=st.lists(HOSTILE, min_size=1, max_size=4, unique=True))
@example(strings=["VI_[/]1", "\x1b]0;owned\x07", "\x9b31mred", "a\rb"])
def test_any_string_renders_as_itself(strings: list[str]) -> None:
    """Notifications, the event log, the VRRP panel (interface names) and the confirm
    dialog show generated hostile strings literally, controls as \\xNN."""
    asyncio.run(_show_everywhere(strings))
