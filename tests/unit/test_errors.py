"""errors.one_line: what a user reads about a failure; never an exception type name."""

from __future__ import annotations

import errno

from lvstop.errors import LvstopError, one_line


def test_lvstop_errors_and_kernel_errors_are_their_sentence() -> None:
    assert one_line(LvstopError("no IPVS here")) == "no IPVS here"
    assert (
        one_line(PermissionError(errno.EACCES, "Permission denied", "/run/x.pid"))
        == "/run/x.pid: Permission denied"
    )
    assert one_line(OSError("cannot ask keepalived")) == "cannot ask keepalived"


def test_anything_else_is_an_lvstop_bug_without_its_type_name() -> None:
    for exc in (KeyError("ppid"), ValueError(), RuntimeError("a\nb")):
        text = one_line(exc)
        assert type(exc).__name__ not in text and "\n" not in text
        assert text.startswith("an unexpected problem in lvstop")
    assert one_line(KeyError("ppid")).endswith(": 'ppid'")
