"""The VRRP panel under a flood of spoofed senders (issue 10, item 4): the VRID's badge and
the panel's bottom line, fed the lab's recorded steady state with VRID 51's tracker state as
the real tracker leaves it after a flood (counted by a real VrrpTracker run)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from lvstop.model.vrrp import Advert, VrrpSnapshot
from lvstop.track.vrrp import MAX_ROUTERS_PER_VRID, VrrpTracker
from lvstop.tui import view
from lvstop.tui.replay import Replay
from lvstop.tui.widgets.vrrp import VrrpPanel
from tests.ui.conftest import make_app, row_of, settle

SIZE = (160, 48)


def flooded(n: int = 1_000) -> tuple[bool, int]:
    """(too_many_senders, untracked adverts) of VRID 51 after one advert each from n
    spoofed senders, as the tracker says it."""
    tracker = VrrpTracker()
    for i in range(n):
        tracker.feed(
            Advert(
                time=1.0 + i * 1e-4,
                interface="eth0",
                family="inet",
                src=f"10.0.{64 + (i >> 8)}.{i & 255}",
                ttl=255,
                version=2,
                vrid=51,
                priority=50,
                interval_ms=1000,
                auth_type="simple",
                addresses=("10.0.5.96",),
            )
        )
    state = tracker.snapshot().vrids[0]
    return state.too_many_senders, state.untracked_adverts


def test_badge_and_subtitle_text() -> None:
    many, untracked = flooded()
    assert many and untracked == 1_000 - MAX_ROUTERS_PER_VRID
    snap = VrrpSnapshot(time=0.0, vrids=(), untracked_adverts=untracked)
    assert view.vrrp_subtitle(snap) == f"earlier flood: {untracked:,} adverts not tracked"
    assert view.vrrp_subtitle(replace(snap, too_many_vrids=True)).startswith("too many VRIDs")
    assert view.vrrp_subtitle(replace(snap, untracked_adverts=0)) == ""


async def test_flooded_vrid_shows_senders_badge_and_count(replay: Callable[[str], Replay]) -> None:
    rep = replay("steady")
    many, untracked = flooded()
    frames = []
    for frame in rep.vrrp_frames:
        vrids = tuple(
            replace(v, too_many_senders=many, untracked_adverts=untracked) if v.vrid == 51 else v
            for v in frame.vrids
        )
        frames.append(replace(frame, vrids=vrids, untracked_adverts=untracked))
    rep.vrrp_frames = frames
    app = make_app(rep)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, rep)
        panel = app.query_one(VrrpPanel)
        rows = {row_of(panel, k).cells[0]: row_of(panel, k) for k in panel.ordered_keys}
        badges = view.VRRP_COLUMNS.index(next(c for c in view.VRRP_COLUMNS if c.key == "badges"))
        n = len(next(v for v in frames[-1].vrids if v.vrid == 51).routers)
        assert rows["51"].cells[badges].startswith(f"SENDERS>{n}")
        assert rows["51"].marks[badges] == "error"
        assert "SENDERS" not in rows["52"].cells[badges]
        assert rows["51"].cells[1] == "10.0.5.90"  # the master still shown
        assert str(panel.border_subtitle) == f"too many senders: {untracked:,} adverts not tracked"
