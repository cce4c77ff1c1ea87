"""The real `lvstop top` process in a pseudo-terminal: SIGHUP (SSH gone) and Ctrl-C leave
cleanly — exit status 0, the terminal's alternate screen left — without a traceback."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import sys
import termios
import time

import pytest


def spawn() -> tuple[int, int]:
    pid, fd = pty.fork()
    if pid == 0:
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        env = dict(os.environ, TERM="xterm-256color", LANG="C.UTF-8")
        os.execvpe(
            sys.executable, [sys.executable, "-m", "lvstop", "top", "--no-vrrp", "--read-only"], env
        )
    return pid, fd


def read_until(fd: int, needle: bytes, timeout: float) -> bytes:
    seen = b""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
            if needle in seen:
                break
    return seen


def wait_exit(pid: int, timeout: float) -> int | None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None


@pytest.mark.parametrize("how", ["sighup", "ctrl-c"])
def test_leaves_cleanly(how: str) -> None:
    pid, fd = spawn()
    try:
        first = read_until(fd, b"Services", 60)
        assert b"Services" in first, first[-400:]
        if how == "sighup":
            os.kill(pid, signal.SIGHUP)
        else:
            os.write(fd, b"\x03")
        rest = read_until(fd, b"\x1b[?1049l", 30)
        code = wait_exit(pid, 30)
        assert code == 0
        assert b"\x1b[?1049l" in rest  # alternate screen left: the shell is back
        assert b"Traceback" not in first + rest
    finally:
        os.close(fd)
