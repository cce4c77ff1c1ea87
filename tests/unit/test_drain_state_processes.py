"""The drained-weights state file under concurrent lvstop processes (issue 10, item 7: in 200
pairs of concurrent `lvstop drain`, 95 lost a weight) and hostile files (item 8). Real
processes on the host for the read-modify-write; the full `lvstop drain` path against the
kernel is tests/lab/test_drain_concurrent_lab.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lvstop.actions import ActionError, DrainState

ROOT = Path(__file__).resolve().parents[2]

WORKER = r"""
import os, sys, time
sys.path.insert(0, sys.argv[1])
from lvstop.actions import DrainState
path, name, n, go = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
while not os.path.exists(go):  # start together
    time.sleep(0.001)
state = DrainState(path)  # one object per process, as each `lvstop drain` makes its own
for j in range(n):
    state.remember(f"{name}-{j}", j)
    if j % 2 == 0:
        state.forget(f"{name}-{j}")
print("done")
"""


def test_two_processes_remembering_at_once_lose_nothing(tmp_path: Path) -> None:
    n = 300  # read-modify-writes per process, 450 of them each (remember, and forget half)
    path = tmp_path / "state" / "drained.json"
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(ROOT), str(path), name, str(n), str(go)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    go.touch()
    for proc in procs:
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0 and out.strip() == "done"
    expected = {f"{name}-{j}": j for name in ("a", "b") for j in range(n) if j % 2}
    assert DrainState(path).all() == expected
    assert sorted(p.name for p in path.parent.iterdir()) == ["drained.json", "drained.json.lock"]
    assert (path.parent / "drained.json.lock").stat().st_mode & 0o777 == 0o600
    assert path.stat().st_mode & 0o777 == 0o600


def test_lock_file_planted_as_a_symlink_is_refused(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep me\n")
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    (state_dir / "drained.json.lock").symlink_to(victim)
    with pytest.raises(
        ActionError,
        match=r"drained.json.lock: it is a symbolic link; nothing "
        "was changed",
    ):
        DrainState(state_dir / "drained.json").remember("k", 5)
    assert victim.read_text() == "keep me\n"
    assert not (state_dir / "drained.json").exists()


def test_lock_file_of_another_user_or_a_fifo_is_refused(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    lock = state_dir / "drained.json.lock"
    os.mkfifo(lock)  # would hang a blocking open
    with pytest.raises(ActionError, match="not a regular file owned by uid"):
        DrainState(state_dir / "drained.json").remember("k", 5)
    lock.unlink()
    lock.write_text("")
    if os.geteuid() == 0:
        os.chown(lock, 65534, 65534)  # nobody's
        with pytest.raises(ActionError, match="not a regular file owned by uid 0"):
            DrainState(state_dir / "drained.json").remember("k", 5)
    assert not (state_dir / "drained.json").exists()


@pytest.mark.parametrize("weight", ['"abc"', "-1", "65536", "1.5", "true", "null"])
def test_corrupt_weight_is_one_line_naming_the_file(tmp_path: Path, weight: str) -> None:
    path = tmp_path / "drained.json"
    path.write_text(
        '{"version": 1, "drained": {"tcp:10.0.5.96:8888->10.0.5.91:8888\\u001b[2J":'
        f' {{"weight": {weight}}}}}}}'
    )
    with pytest.raises(ActionError) as info:
        DrainState(path).all()
    message = str(info.value)
    assert message.startswith(f"cannot read the drain state {path}: the weight remembered for ")
    assert f"is {weight}, not a whole number from 0 to 65535" in message
    assert "\x1b" not in message and "\n" not in message
    # the command says it in one line, no traceback (restore reads the state first)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "lvstop",
            "restore",
            "tcp:10.0.5.96:8888->10.0.5.91:8888",
            "--state-file",
            str(path),
            "--audit-log",
            str(tmp_path / "audit.log"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0 and proc.stdout == ""
    assert proc.stderr == f"lvstop: {message}\n"


def test_a_refused_drain_creates_no_state_file(tmp_path: Path) -> None:
    # this host's kernel has no IPVS (or the real server is not there): refused, no files
    state = tmp_path / "nowhere" / "drained.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "lvstop",
            "drain",
            "tcp:10.0.5.96:8888->10.0.5.91:8888",
            "--state-file",
            str(state),
            "--audit-log",
            str(tmp_path / "audit.log"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert not state.parent.exists()


def test_saved_file_is_complete_json_after_each_write(tmp_path: Path) -> None:
    path = tmp_path / "drained.json"
    state = DrainState(path)
    for j in range(5):
        state.remember(f"k{j}", j)
        assert json.loads(path.read_text())["drained"][f"k{j}"]["weight"] == j
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".drained.")] == []
