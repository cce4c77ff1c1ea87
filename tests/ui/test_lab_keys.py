"""Pilot tests of the lab keys (`lvstop top --lab`): every lab fault has a key, the key
runs the fault in a thread, the result reaches a notification and the event log."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from textual.pilot import Pilot

from lvstop.lab.faults import FAULTS, parse_params
from lvstop.lab.runtime import LabError
from lvstop.tui.keys import LAB_FAULTS
from lvstop.tui.replay import Replay
from lvstop.tui.screens.help import HelpScreen
from lvstop.tui.widgets.event_log import EventLog
from lvstop.tui.widgets.lab_strip import LabStrip
from tests.ui.conftest import Notices, make_app, settle, until
from tests.ui.test_keys import SIZE


async def wait_workers(pilot: Pilot[int]) -> None:
    """Wait for the fault workers, then for the App to handle what they posted."""
    app = pilot.app
    await until(
        pilot,
        lambda: not any(w.group == "lab" and not w.is_finished for w in app.workers),
        "the lab workers",
    )
    await pilot.pause()


class FakeApply:
    """Records calls (and the thread they ran on); slow like the real one, or refusing."""

    def __init__(
        self, delay: float = 0.0, error: str | None = None, gate: threading.Event | None = None
    ) -> None:
        self.calls: list[tuple[str, dict[str, object], str]] = []
        self.delay = delay
        self.error = error
        #: when set, each call also waits (at most 60 s) for the gate to open
        self.gate = gate
        self.running = False

    def __call__(self, name: str, **params: object) -> str:
        self.calls.append((name, params, threading.current_thread().name))
        self.running = True
        if self.gate is not None:
            self.gate.wait(60)
        time.sleep(self.delay)
        self.running = False
        if self.error:
            raise LabError(self.error)
        return f"{name} done: " + " ".join(f"{k}={v}" for k, v in params.items())


def test_every_fault_has_a_key_with_valid_parameters() -> None:
    assert {name for name, _p, _l in LAB_FAULTS.values()} == set(FAULTS)
    for key, (name, params, _label) in LAB_FAULTS.items():
        assert len(key) == 1
        parse_params(FAULTS[name], params)  # raises on a parameter the fault does not take
    rs = {(n, p["node"]) for n, p, _l in LAB_FAULTS.values() if n.startswith("rs-")}
    assert rs == {(a, b) for a in ("rs-stop", "rs-start") for b in ("rs1", "rs2")}
    kills = {p["node"] for n, p, _l in LAB_FAULTS.values() if n == "keepalived-kill"}
    assert kills == {"d1", "d2"}


async def test_lab_keys_apply_in_a_thread_and_log(replay: Callable[[str], Replay]) -> None:
    rep = replay("steady")
    app = make_app(rep, lab=True)
    gate = threading.Event()
    fake = FakeApply(gate=gate)
    app.lab_apply = fake
    notices = Notices()
    async with app.run_test(size=SIZE, message_hook=notices.hook) as pilot:
        await settle(pilot, rep)
        main = threading.current_thread().name
        await pilot.press("!")
        await pilot.pause()
        # the loop is not blocked while the fault runs: the screen answers a key while the
        # fault is still held inside its call (no wall-clock bound: CI machines are loaded)
        await pilot.press("p")
        await pilot.pause()
        assert app.paused and fake.running
        gate.set()
        await pilot.press("p")
        await wait_workers(pilot)
        await pilot.pause()
        assert fake.calls[0][:2] == ("rs-stop", {"node": "rs1"})
        assert fake.calls[0][2] != main
        assert notices.any("rs-stop done: node=rs1")
        log = app.query_one(EventLog)
        assert any(e.kind == "lab_fault" and "rs-stop done: node=rs1" in e.text for e in log.events)
        for key in ("9", "0", "@", "#", "$", "%", "^", "&", "*"):
            await pilot.press(key)
            await wait_workers(pilot)
        names = [(n, p.get("node")) for n, p, _t in fake.calls]
        assert names == [
            ("rs-stop", "rs1"),
            ("keepalived-kill", "d1"),
            ("keepalived-kill", "d2"),
            ("rs-start", "rs1"),
            ("rs-stop", "rs2"),
            ("rs-start", "rs2"),
            ("netem", "d1"),
            ("netem-clear", None),
            ("rogue-start", None),
            ("rogue-stop", None),
        ]
        assert fake.calls[6][1] == {"node": "d1", "loss": 20.0, "delay": 100.0}


async def test_lab_key_refusal_is_shown_and_logged(replay: Callable[[str], Replay]) -> None:
    rep = replay("steady")
    app = make_app(rep, lab=True)
    app.lab_apply = FakeApply(error="'rs9' is not one of rs1, rs2")
    notices = Notices()
    async with app.run_test(size=SIZE, message_hook=notices.hook) as pilot:
        await settle(pilot, rep)
        await pilot.press("#")
        await wait_workers(pilot)
        await pilot.pause()
        shown = notices.messages
        assert any("failed: 'rs9' is not one of rs1, rs2" in m for m in shown), shown
        log = app.query_one(EventLog)
        assert any(e.kind == "lab_fault" and e.severity == "error" for e in log.events)


async def test_lab_keys_in_help_and_strip_only_with_lab(replay: Callable[[str], Replay]) -> None:
    rep = replay("steady")
    app = make_app(rep, lab=True)
    app.lab_apply = FakeApply()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, rep)
        strip = str(app.query_one(LabStrip).render())
        for key, (_n, _p, label) in LAB_FAULTS.items():
            assert f"{key} {label}" in strip
        assert strip.count("\n") == 1  # two lines at 160 columns
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        strip = str(app.query_one(LabStrip).render())
        assert "\n" not in strip and "fault keys 1 2 3 4 5 6 7 8 9 0 ! @ # $ % ^ & *" in strip
        assert "? says which is which" in strip
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        rows = {key: what for key, what, _ in app.screen.bindings}
        assert rows["!"] == "lab: rs1 stop" and rows["*"] == "lab: rogue off"
        assert rows["9"] == "lab: d1 ka kill -9"
    rep = replay("steady")
    app = make_app(rep)
    fake = FakeApply()
    app.lab_apply = fake
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, rep)
        assert not app.query(LabStrip)
        await pilot.press("!", "1")
        await wait_workers(pilot)
        assert fake.calls == []
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert not any(what.startswith("lab:") for _k, what, _t in app.screen.bindings)
