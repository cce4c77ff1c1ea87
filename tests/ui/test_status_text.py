"""Status lines: no styled run starts with a space (rsvg drops leading spaces in SVG runs,
gluing fields together), separators present, the empty host name said in words."""

from __future__ import annotations

from collections.abc import Callable

from rich.style import Style
from rich.text import Text
from textual.content import Content

from lvstop.tui.format import host_label
from lvstop.tui.replay import Replay
from lvstop.tui.widgets.header import HeaderBar
from lvstop.tui.widgets.text import glued
from lvstop.tui.widgets.timeouts import TimeoutsBar
from tests.ui.conftest import make_app, settle


def runs_start_with_space(text: object) -> list[str]:
    """The runs of equal style (as an SVG export writes them) that begin with a space."""
    assert isinstance(text, Text | Content)  # rich's Text or Textual's Content (render())
    plain = text.plain
    styles: list[list[object]] = [[] for _ in plain]
    for span in text.spans:
        for i in range(span.start, min(span.end, len(plain))):
            styles[i].append(span.style)
    starts = [i for i in range(len(plain)) if i == 0 or styles[i] != styles[i - 1]]
    ends = [*starts[1:], len(plain)]
    return [plain[a:b] for a, b in zip(starts, ends, strict=True) if plain[a] == " "]


def test_glued_moves_leading_spaces_to_the_run_before() -> None:
    bold = Style(bold=True)
    text = glued([("tcp ", None), ("900s", bold), ("  tcpfin ", None), ("120s", bold)])
    assert text.plain == "tcp 900s  tcpfin 120s"
    assert runs_start_with_space(text) == []


def test_host_label() -> None:
    assert host_label("(none)") == "(no hostname)" and host_label("") == "(no hostname)"
    assert host_label("d1") == "d1"


async def test_header_and_timeouts_lines(replay: Callable[[str], Replay]) -> None:
    rep = replay("steady")
    app = make_app(rep)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, rep)
        app.interval = 1.0
        app.refresh_status()
        await pilot.pause()
        header = app.query_one(HeaderBar).render()
        plain = str(header)
        assert plain.startswith(f"lvstop {host_label(rep.host.hostname)} │ keepalived up ")
        assert plain.endswith(" │ every 1s")
        assert runs_start_with_space(header) == []
        timeouts = app.query_one(TimeoutsBar).render()
        assert str(timeouts) == ("timeouts tcp 900s · tcpfin 120s · udp 300s · T: why 900s?")
        assert runs_start_with_space(timeouts) == []
