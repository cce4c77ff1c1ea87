"""Only root's keepalived is keepalived, and nothing a process names is ever executed (issue 10
§1): an impostor named keepalived, run as nobody from a deleted copy of sleep with a script
left at ``keepalived (deleted)``, is ignored; even a root process is never asked anything by
running its own executable. The same attack against the real commands runs in the lab
(tests/lab/test_keepalived_trust_lab.py)."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lvstop.sources import keepalived_state as ks
from lvstop.sources.host import find_keepalived

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (to run as nobody)")


def _wait_scanned(pid: int) -> dict[str, Any]:
    deadline = time.monotonic() + 30  # returns as soon as the process is seen
    while True:
        found = [i for i in ks.scan_processes() if i["pid"] == pid]
        if found or time.monotonic() > deadline:
            assert found, f"pid {pid} named keepalived never seen"
            return found[0]
        time.sleep(0.05)


def _impostor(as_nobody: bool) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """A copy of sleep named keepalived, started, deleted, and a script left at its
    ``(deleted)`` path that would leave a marker if anyone ran it."""
    folder = Path(tempfile.mkdtemp(prefix="ka-impostor-"))
    folder.chmod(0o755)
    fake = folder / "keepalived"
    sleep = shutil.which("sleep")
    assert sleep
    shutil.copy(sleep, fake)
    fake.chmod(0o755)
    marker = folder / "RAN"
    prefix = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"] if as_nobody else []
    proc = subprocess.Popen([*prefix, str(fake), "300"])
    try:
        _wait_scanned(proc.pid)
        fake.unlink()
        script = folder / "keepalived (deleted)"
        script.write_text(f"#!/bin/sh\ntouch {marker}\necho 10\n")
        script.chmod(0o755)
        assert os.readlink(f"/proc/{proc.pid}/exe").endswith("keepalived (deleted)")
        yield proc, marker
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def nobody_impostor() -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    yield from _impostor(as_nobody=True)


@pytest.fixture
def root_impostor() -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    yield from _impostor(as_nobody=False)


@root_only
def test_keepalived_run_by_nobody_is_ignored(
    nobody_impostor: tuple[subprocess.Popen[bytes], Path],
) -> None:
    proc, marker = nobody_impostor
    info = _wait_scanned(proc.pid)
    assert info["uids"][0] != 0
    assert info["untrusted"] and "not root" in info["untrusted"]
    assert proc.pid not in {p.pid for p in ks.find_processes()}
    assert proc.pid not in find_keepalived().pids
    assert any(f"pid {proc.pid}" in line for line in ks.ignored_processes())
    assert not marker.exists()


@root_only
def test_a_process_executable_is_never_run(
    root_impostor: tuple[subprocess.Popen[bytes], Path],
) -> None:
    """Even a root process (trusted) is not asked its signals by running what its exe link
    names: the installed keepalived answers only for itself, else SIGUSR1 from the table."""
    proc, marker = root_impostor
    ks._signum_cache.clear()
    numbers, note = ks.signals_for(proc.pid)
    assert numbers == {"DATA": int(signal.SIGUSR1)}
    assert note is not None and "does not run the installed keepalived" in note
    assert not marker.exists()


def test_trusted_file_wants_root_owned_files_in_root_owned_folders(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("files made here are not root's")
    # /tmp is writable by all (sticky or not, lvstop does not trust what lies below it)
    folder = Path(tempfile.mkdtemp(prefix="ka-trust-", dir="/run"))
    try:
        assert ks.trusted_file(str(Path(tempfile.gettempdir()) / "x")) is None
        folder.chmod(0o755)
        binary = folder / "keepalived"
        binary.write_text("#!/bin/sh\n")
        binary.chmod(0o755)
        assert ks.trusted_file(str(binary)) is not None
        binary.chmod(0o775)  # group may write it
        assert ks.trusted_file(str(binary)) is None
        binary.chmod(0o755)
        folder.chmod(0o777)  # anyone may replace it
        assert ks.trusted_file(str(binary)) is None
        folder.chmod(0o755)
        os.chown(binary, 65534, 65534)
        assert ks.trusted_file(str(binary)) is None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert ks.trusted_file(str(tmp_path / "absent")) is None


def test_untrusted_reason_reads_uids_first() -> None:
    assert ks.untrusted_reason(os.getpid(), (1000, 1000, 1000)) == "runs as uid 1000, not root"
    assert ks.untrusted_reason(os.getpid(), (0, 1000, 0)) is not None


def test_signal_numbers_come_from_the_installed_keepalived_only() -> None:
    installed = ks.installed_keepalived()
    if installed is None:
        pytest.skip("no keepalived installed")
    path, st = installed
    assert path.startswith(ks.ROOT_PATH) and stat.S_ISREG(st.st_mode) and st.st_uid == 0
    assert ks.signal_number("DATA") == int(signal.SIGUSR1)
