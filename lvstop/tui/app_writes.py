"""The dashboard's write keys: drain, restore, weight, timeouts (a mixin of ``LvstopApp``).

Every write: refused up front without CAP_NET_ADMIN (``Actions.refusal``), then a confirm
dialog with before → after and the equivalent ipvsadm command, then the write in a worker of
group "write" (``action_quit`` waits for it); failures reach ``on_worker_state_changed``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace

from lvstop.model.ipvs import RealServer, Service, Timeouts
from lvstop.track.events import LogEvent, Written
from lvstop.tui.app_state import DashboardState
from lvstop.tui.writes import PlannedWrite, plan_timeouts, plan_weight


class WriteKeys(DashboardState):
    def _selected_rs(self) -> tuple[Service, RealServer] | None:
        table = self.rs_table
        if self.ipvs is None or table.cursor_key is None:
            self.notify(
                "select a real server first (Enter on a service, then ↑/↓)", severity="warning"
            )
            return None
        rs = self.ipvs.real_server(table.cursor_key)
        svc = self.ipvs.service(rs.service_key) if rs else None
        if rs is None or svc is None:
            self.notify("that real server is gone from the table", severity="warning")
            return None
        return svc, rs

    def _may_write(self) -> bool:
        reason = self.sources.actions.refusal()
        if reason:
            self.notify(reason, title="write refused", severity="error")
        return reason is None

    def _warned(self, plan: PlannedWrite, rs: RealServer) -> PlannedWrite:
        """The plan with keepalived's warning when it manages ``rs`` (it will undo this)."""
        warning = self.sources.keepalived.view().warnings.get(rs.key, "")
        return replace(plan, warning=warning) if warning else plan

    def _confirm_then(
        self, plan: PlannedWrite, coro_factory: Callable[[], Awaitable[None]]
    ) -> None:
        from lvstop.tui.screens.confirm import ConfirmScreen

        def done(apply: bool | None) -> None:
            if apply:
                self.run_worker(
                    coro_factory(),
                    name=plan.title,
                    group="write",
                    exit_on_error=False,
                    description=plan.command,
                )
            else:
                # Textual's default 5 s: long enough to read over a slow SSH link
                self.notify("cancelled: nothing changed")

        self.push_screen(
            ConfirmScreen(plan.title, plan.before, plan.after, plan.command, plan.warning), done
        )

    async def _apply(
        self, plan: PlannedWrite, key: str, value: Written, call: Awaitable[str]
    ) -> None:
        self.differ.expect_write(key, value)
        result = await call
        self.notify(result, title="done")
        self.log_events(
            [LogEvent(self.sources.clock(), plan.kind, f"{result} (lvstop)", "ok", "lvstop")]
        )

    def action_drain(self) -> None:
        picked = self._may_write() and self._selected_rs()
        if not picked:
            return
        svc, rs = picked
        if rs.weight == 0:
            self.notify(f"{rs.endpoint} is already drained", severity="warning")
            return
        plan = self._warned(plan_weight(svc, rs, 0, "drain"), rs)

        async def go() -> None:
            await self._apply(plan, rs.key, 0, self.sources.actions.drain(rs))
            from lvstop.tui.screens.drain import DrainScreen

            self.push_screen(DrainScreen(rs.key, rs.endpoint))

        self._confirm_then(plan, go)

    def action_restore(self) -> None:
        picked = self._may_write() and self._selected_rs()
        if not picked:
            return
        svc, rs = picked
        weight = self.sources.actions.return_weights().get(rs.key, 1)
        plan = self._warned(plan_weight(svc, rs, weight, "restore"), rs)
        self._confirm_then(
            plan, lambda: self._apply(plan, rs.key, weight, self.sources.actions.restore(rs))
        )

    def action_weight(self) -> None:
        picked = self._may_write() and self._selected_rs()
        if not picked:
            return
        svc, rs = picked
        from lvstop.tui.screens.weight import WeightScreen

        def chosen(weight: int | None) -> None:
            if weight is not None:
                plan = self._warned(plan_weight(svc, rs, weight), rs)
                self._confirm_then(
                    plan,
                    lambda: self._apply(
                        plan, rs.key, weight, self.sources.actions.set_weight(rs, weight)
                    ),
                )

        self.push_screen(WeightScreen(rs.endpoint, rs.weight), chosen)

    def action_timeouts(self) -> None:
        if not self._may_write():
            return
        from lvstop.tui.screens.timeouts import TimeoutsScreen

        current = (self.ipvs.timeouts if self.ipvs else None) or Timeouts()

        def chosen(new: Timeouts | None) -> None:
            if new is not None:
                plan = plan_timeouts(current, new)
                self._confirm_then(
                    plan,
                    lambda: self._apply(
                        plan,
                        "timeouts",
                        (new.tcp, new.tcpfin, new.udp),
                        self.sources.actions.set_timeouts(new),
                    ),
                )

        self.push_screen(TimeoutsScreen(current), chosen)
