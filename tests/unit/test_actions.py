"""lvstop.actions, the parts that need no kernel: state file, audit log, validation, the
SET_DEST message (the kernel side is tested in tests/lab/test_ipvs_writes.py)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lvstop.actions import (
    ActionError,
    AuditLog,
    DrainState,
    IpvsWriter,
    current_user,
    dest_attrs,
)
from lvstop.model.ipvs import RealServer
from lvstop.sources import genl
from lvstop.sources.ipvs import DEST_ATTRS, attr_values

T = TypeVar("T")


class NoKernel:
    """A transport that must never be reached (validation fails first)."""

    def request(self, cmd: int, attrs: bytes, what: str) -> list[bytes]:
        raise AssertionError(f"the kernel was asked: {what}")

    def dump(
        self, cmd: int, attrs: bytes, parse: Callable[[bytearray, int, int], T | None], what: str
    ) -> list[T]:
        raise AssertionError(f"the kernel was asked: {what}")

    def close(self) -> None:
        pass


def writer(tmp_path: Path) -> IpvsWriter:
    from lvstop.sources.ipvs import IpvsReader

    return IpvsWriter(
        IpvsReader(NoKernel()),
        audit=AuditLog(tmp_path / "a.log", use_syslog=False),
        state=DrainState(tmp_path / "s.json"),
    )


def test_drain_state_round_trip_and_atomic_file(tmp_path: Path) -> None:
    st = DrainState(tmp_path / "sub" / "drained.json")
    assert st.remembered("k") is None and st.all() == {}
    st.remember("tcp:10.0.5.96:8888->10.0.5.91:8888", 7)
    again = DrainState(tmp_path / "sub" / "drained.json")  # a new process
    assert again.remembered("tcp:10.0.5.96:8888->10.0.5.91:8888") == 7
    again.forget("tcp:10.0.5.96:8888->10.0.5.91:8888")
    assert st.all() == {}
    # no temporary file left behind; the lock file stays (it is only ever locked, never replaced)
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == [
        "drained.json",
        "drained.json.lock",
    ]


def test_drain_state_bad_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "drained.json"
    path.write_text("{not json")
    with pytest.raises(ActionError, match="cannot read the drain state"):
        DrainState(path).load()
    path.write_text('["a list"]')
    with pytest.raises(ActionError, match="not lvstop's format"):
        DrainState(path).load()


def test_audit_log_records_sudo_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUDO_USER", "alice")
    assert current_user() == "alice"
    log = AuditLog(tmp_path / "log" / "audit.log", use_syslog=False)
    log.check()
    log.record("weight", "tcp:1.2.3.4:80->5.6.7.8:80", "5", "7", "ok")
    entry = json.loads((tmp_path / "log" / "audit.log").read_text())
    assert entry["user"] == "alice" and entry["before"] == "5" and entry["after"] == "7"
    assert entry["object"] == "tcp:1.2.3.4:80->5.6.7.8:80" and entry["time"]


@given(st.text())
def test_audit_log_holds_no_terminal_control(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    """Whatever a name holds (a sudo user, an object), the log line is JSON that reads back
    as the same text and carries no control character a terminal would act on."""
    path = tmp_path_factory.mktemp("audit") / "audit.log"
    log = AuditLog(path, use_syslog=False)
    line = log.record("weight", text, text, "7", "ok")
    raw = path.read_text(encoding="utf-8")
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f]", raw), repr(raw)
    assert json.loads(line)["object"] == text and json.loads(raw)["before"] == text


def test_unwritable_audit_log_refuses_before_writing(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    w = writer(tmp_path)
    w.audit = AuditLog(blocker / "audit.log", use_syslog=False)
    with pytest.raises(ActionError, match="cannot write the audit log"):
        w.set_weight("tcp:10.0.5.96:8888->10.0.5.91:8888", 3)


@pytest.mark.parametrize("weight", [-1, 65536, 1.5, True, "3"])
def test_weight_validation(tmp_path: Path, weight: Any) -> None:
    with pytest.raises(ActionError, match="weight must be an integer"):
        writer(tmp_path).set_weight("tcp:10.0.5.96:8888->10.0.5.91:8888", weight)


@pytest.mark.parametrize(
    "key",
    [
        "nonsense",
        "tcp:10.0.5.96->10.0.5.91:80",
        "icmp:1.2.3.4:5->1.2.3.4:5",
        "tcp:1.2.3.4:5->1.2.3.4:99999",
        "fwm:0->1.2.3.4:0",
    ],
)
def test_bad_keys(tmp_path: Path, key: str) -> None:
    with pytest.raises(ActionError):
        writer(tmp_path).set_weight(key, 1)


@pytest.mark.parametrize("values", [(-1, 0, 0), (0, 0, 0), (0, 2**31, 0), (0, 0, "x")])
def test_timeout_validation(tmp_path: Path, values: tuple[Any, Any, Any]) -> None:
    with pytest.raises(ActionError):
        writer(tmp_path).set_timeouts(*values)


def test_set_dest_echoes_every_attribute_including_the_tunnel() -> None:
    rs = RealServer(
        "2001:db8::7",
        80,
        family="inet6",
        forward="tunnel",
        weight=4,
        upper_threshold=100,
        lower_threshold=10,
        tunnel_type="gue",
        tunnel_port=6080,
        tunnel_flags=("csum",),
    )
    msg = dest_attrs(rs, 9)
    ((t, off, length),) = genl.iter_attrs(msg, 0, len(msg))
    assert t == 2
    attrs = attr_values(msg, off, off + length, DEST_ATTRS)
    assert attrs[1] == bytes.fromhex("20010db8000000000000000000000007")
    assert attrs[2] == 80 << 8  # be16 read as little-endian u16
    assert attrs[11] == 10 and attrs[3] == 2 and attrs[4] == 9
    assert (attrs[5], attrs[6]) == (100, 10)
    assert (attrs[13], attrs[14], attrs[15]) == (1, 6080 >> 8 | (6080 & 255) << 8, 1)
