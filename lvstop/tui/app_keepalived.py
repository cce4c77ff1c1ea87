"""keepalived in the dashboard (a mixin of ``LvstopApp``): its poller, the `K` key that asks
it for its state dumps, and the line saying how old its view is.

The poller reads keepalived's processes and config every few seconds (no signal); the source
(``KeepalivedStates``) signals keepalived only when its policy says the kernel table changed
in a way a verdict depends on, at most once a minute by default, or when the user presses `K`.
Verdicts that change in a round of dumps go to the event log.
"""

from __future__ import annotations

import asyncio

from lvstop.track.events import LogEvent
from lvstop.tui.app_state import DashboardState
from lvstop.tui.format import coarse_duration
from lvstop.tui.messages import KeepalivedPolled
from lvstop.tui.pollers import Poller
from lvstop.tui.sources import KeepalivedView


class KeepalivedKeys(DashboardState):
    _ka_ask = False

    def keepalived_poller(self) -> Poller[tuple[KeepalivedView, KeepalivedView]]:
        """Reads keepalived's processes and config every few seconds (cheap without
        signals: processes and the config's mtime only), against the latest kernel table."""
        return Poller(
            "keepalived",
            self._fetch_keepalived,
            KeepalivedPolled,
            lambda: max(2.0, self.interval) if self.ipvs is not None else 0.5,
            lambda: 10 * self.interval,
            pauses=False,
        )

    async def _fetch_keepalived(self) -> tuple[KeepalivedView, KeepalivedView] | None:
        if self.ipvs is None:  # drift compares keepalived with a kernel table: wait for one
            return None
        ask, self._ka_ask = self._ka_ask, False
        before = self.sources.keepalived.view()
        await asyncio.to_thread(self.sources.keepalived.refresh, self.ipvs, ask)
        return before, self.sources.keepalived.view()

    def on_keepalived_polled(self, message: KeepalivedPolled) -> None:
        self._keepalived_refreshed(message.before, message.after)

    def _keepalived_refreshed(self, before: KeepalivedView, after: KeepalivedView) -> None:
        self._errors.pop("keepalived", None)
        self._show_real_servers()
        self.show_keepalived_age()
        if after.asked is None:
            return
        now = self.sources.clock()
        events = [
            LogEvent(
                now,
                "keepalived_asked",
                f"asked keepalived for its state ({after.asked})",
                "info",
                "lvstop",
            )
        ]
        for key, state in after.states.items():
            if before.states.get(key) != state:
                severity = "ok" if state.startswith("up") else "warning"
                events.append(
                    LogEvent(
                        now,
                        "keepalived_verdict",
                        f"{key}: {state}: {after.details.get(key, '')}",
                        severity,
                        "keepalived",
                    )
                )
        events.extend(
            LogEvent(now, "keepalived_problem", p, "warning", "keepalived") for p in after.problems
        )
        self.log_events(events)

    def show_keepalived_age(self) -> None:
        """How old keepalived's view is, in the real servers' title (repainted on change)."""
        view = self.sources.keepalived.view()
        if not view.watched:
            return
        if not view.running:
            text = "keepalived: not running"
        elif view.dumped_at is None:
            text = "keepalived: config × kernel"
        else:
            age = coarse_duration(self.sources.clock() - view.dumped_at)
            text = f"keepalived's view {age} old"
        if view.no_signals:
            text += " · not asked: " + view.no_signals
        elif view.pending:
            text += " · update due"
        else:
            text += " · K asks"
        # In the panel's title (its only border line), before a " — STALE" the App may add.
        stale = (self.rs_table.border_title or "").partition(" — ")[2]
        title = f"Real servers · {text}" + (f" — {stale}" if stale else "")
        if self.rs_table.border_title != title:  # assigning repaints, even the same
            self.rs_table.border_title = title

    def action_ask_keepalived(self) -> None:
        view = self.sources.keepalived.view()
        if view.no_signals:
            self.notify(
                f"lvstop does not signal keepalived here: {view.no_signals}",
                title="keepalived",
                severity="warning",
            )
            return
        if not view.running:
            self.notify("keepalived is not running", title="keepalived", severity="warning")
            return
        self._ka_ask = True
        self.pollers["keepalived"].wake.set()
        self.notify("asking keepalived for its state dumps…", title="keepalived", timeout=3)
