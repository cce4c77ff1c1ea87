"""IPVS error messages: one line each (mapping), and the no-IPVS path on a kernel without it."""

from __future__ import annotations

import errno
import os
import subprocess
import sys

import pytest

from lvstop.sources.genl import NetlinkError
from lvstop.sources.ipvs import (
    ERR_NO_IPVS,
    ERR_PERMISSION,
    IpvsPermissionError,
    ipvs_error,
)


@pytest.mark.parametrize("err", [errno.EPERM, errno.EACCES])
def test_permission_errors(err: int) -> None:
    exc = ipvs_error(NetlinkError("x", err), "IPVS service dump")
    assert isinstance(exc, IpvsPermissionError)
    assert str(exc) == ERR_PERMISSION == "needs root or CAP_NET_ADMIN"


def test_other_errors_name_the_errno() -> None:
    exc = ipvs_error(
        NetlinkError("IPVS service dump: EINVAL (Invalid argument)", errno.EINVAL),
        "IPVS service dump",
    )
    assert str(exc) == "IPVS service dump: EINVAL (Invalid argument)"
    assert "\n" not in str(exc)


@pytest.mark.skipif(os.path.exists("/proc/net/ip_vs"), reason="this kernel has IPVS loaded")
@pytest.mark.parametrize(
    "argv",
    [
        ["dump"],
        ["dump", "--json"],
        ["dump", "--conns"],
        ["timeouts", "1", "0", "0", "--audit-log", "/dev/null"],
    ],
)
def test_no_ipvs_kernel_gives_one_line(argv: list[str]) -> None:
    """The host kernel has no IPVS (LAB.md): the real path, not a mock."""
    proc = subprocess.run(
        [sys.executable, "-m", "lvstop", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr == f"lvstop: {ERR_NO_IPVS}\n"
