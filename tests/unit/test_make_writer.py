"""The writer is a dependency handed in (issue 12): each front end makes its own, with its own
audit log and state file; nothing module-wide is shared or reconfigured behind its back."""

from __future__ import annotations

from pathlib import Path

import pytest

import lvstop.actions as actions
from lvstop.actions import DrainState, make_writer


def test_each_writer_has_the_paths_it_was_given(tmp_path: Path) -> None:
    a = make_writer(str(tmp_path / "a.log"), str(tmp_path / "a.json"), use_syslog=False)
    b = make_writer(str(tmp_path / "b.log"), str(tmp_path / "b.json"), use_syslog=False)
    assert (a.audit.path, a.state.path) == (tmp_path / "a.log", tmp_path / "a.json")
    assert (b.audit.path, b.state.path) == (tmp_path / "b.log", tmp_path / "b.json")
    assert not any(name.startswith("_default") for name in vars(actions))


def test_defaults_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LVSTOP_AUDIT_LOG", str(tmp_path / "env.log"))
    monkeypatch.setenv("LVSTOP_STATE_FILE", str(tmp_path / "env.json"))
    writer = make_writer(use_syslog=False)
    assert (writer.audit.path, writer.state.path) == (tmp_path / "env.log", tmp_path / "env.json")


def test_remembered_weights_are_the_writers_own(tmp_path: Path) -> None:
    state = tmp_path / "drained.json"
    DrainState(state).remember("tcp:10.0.5.96:8888->10.0.5.91:8888", 3)
    writer = make_writer(str(tmp_path / "audit.log"), str(state), use_syslog=False)
    assert writer.remembered_weights() == {"tcp:10.0.5.96:8888->10.0.5.91:8888": 3}
    state.write_text("{not json")  # unreadable: nothing remembered, no traceback
    assert writer.remembered_weights() == {}
