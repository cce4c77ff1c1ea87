"""keepalived in the dashboard (a mixin of ``LvstopApp``): its poller, the `K` key that asks
it for its state dumps, and the line saying how old its view is.

The poller reads keepalived's processes and config every few seconds (no signal); the source
(``KeepalivedStates``) signals keepalived only when its policy says the kernel table changed
in a way a verdict depends on, at most once a minute by default, or when the user presses `K`.
Verdicts that change in a round of dumps go to the event log.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from textual.app import App

from lvstop.track.events import LogEvent
from lvstop.tui.format import coarse_duration
from lvstop.tui.sources import KeepalivedView, Sources
from lvstop.tui.widgets.real_servers import RealServersTable


class KeepalivedKeys(App[int]):
    sources: Sources
    ipvs: Any  # the reactive IpvsSnapshot | None of LvstopApp
    interval: float
    rs_table: RealServersTable
    _errors: dict[str, str]
    _ka_wake: asyncio.Event | None = None
    _ka_ask = False

    def log_events(self, events: list[LogEvent]) -> None:
        raise NotImplementedError

    def _show_real_servers(self) -> None:
        raise NotImplementedError

    async def _poll_keepalived(self) -> None:
        self._ka_wake = asyncio.Event()
        while True:
            if self.ipvs is not None:
                ask, self._ka_ask = self._ka_ask, False
                before = self.sources.keepalived.view()
                await asyncio.to_thread(self.sources.keepalived.refresh, self.ipvs, ask)
                self._keepalived_refreshed(before, self.sources.keepalived.view())
            self._ka_wake.clear()
            # Cheap without signals: processes and the config's mtime only.
            with_ipvs = max(2.0, self.interval)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ka_wake.wait(),
                                       with_ipvs if self.ipvs is not None else 0.5)

    def _keepalived_refreshed(self, before: KeepalivedView, after: KeepalivedView) -> None:
        self._errors.pop("keepalived", None)
        self._show_real_servers()
        self.show_keepalived_age()
        if after.asked is None:
            return
        now = self.sources.clock()
        events = [LogEvent(now, "keepalived_asked",
                           f"asked keepalived for its state ({after.asked})", "info", "lvstop")]
        for key, state in after.states.items():
            if before.states.get(key) != state:
                severity = "ok" if state.startswith("up") else "warning"
                events.append(LogEvent(now, "keepalived_verdict",
                                       f"{key}: {state}: {after.details.get(key, '')}",
                                       severity, "keepalived"))
        events.extend(LogEvent(now, "keepalived_problem", p, "warning", "keepalived")
                      for p in after.problems)
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
            self.notify(f"lvstop does not signal keepalived here: {view.no_signals}",
                        title="keepalived", severity="warning")
            return
        if not view.running:
            self.notify("keepalived is not running", title="keepalived", severity="warning")
            return
        self._ka_ask = True
        if self._ka_wake is not None:
            self._ka_wake.set()
        self.notify("asking keepalived for its state dumps…", title="keepalived", timeout=3)
