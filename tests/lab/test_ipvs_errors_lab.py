"""Without privilege, lvstop's IPVS commands give one line, not a traceback (lab VM)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import lvstop

if TYPE_CHECKING:
    from lvstop.lab import LabHandle

pytestmark = pytest.mark.lab

PERM = "lvstop: needs root or CAP_NET_ADMIN\n"
NOBODY = [
    "setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
    "--inh-caps=-all",
    "--bounding-set=-all",
]
#: The interpreter behind the venv (Debian's, world-readable); the venv itself may live in a
#: folder user nobody cannot enter (a clone in /root).
PYTHON = os.path.realpath(sys.executable)


@pytest.fixture(scope="session")
def world_readable() -> Iterator[Path]:
    """A copy of the lvstop package any user can read (in the VM's private /tmp), so the
    unprivileged runs do not depend on where the clone lives."""
    top = Path(tempfile.mkdtemp(prefix="lvstop-nobody-"))
    shutil.copytree(
        Path(lvstop.__file__).parent,
        top / "lvstop",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    for folder, _, files in os.walk(top):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)
    yield top
    shutil.rmtree(top, ignore_errors=True)


def run_in(
    ns: str,
    prefix: list[str],
    argv: list[str],
    where: Path,
) -> subprocess.CompletedProcess[str]:
    # -s -E: not the venv's site, no PYTHON* variables; the copy is found from the cwd (-m).
    return subprocess.run(
        ["ip", "netns", "exec", ns, *prefix, PYTHON, "-s", "-E", "-m", "lvstop", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=where,
    )


@pytest.fixture
def ns(lab: LabHandle) -> Iterator[str]:
    with lab.scratch_netns() as name:
        subprocess.run(
            ["ip", "netns", "exec", name, "ipvsadm", "-A", "-t", "10.0.5.96:80"], check=True
        )
        yield name


@pytest.mark.parametrize("how", [NOBODY, ["capsh", "--drop=cap_net_admin", "--"]])
@pytest.mark.parametrize("argv", [["dump"], ["dump", "--json"], ["dump", "--timeouts"]])
def test_unprivileged_read_is_one_line(
    ns: str, how: list[str], argv: list[str], world_readable: Path
) -> None:
    if how[0] == "capsh":
        proc = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                ns,
                "capsh",
                "--drop=cap_net_admin",
                "--",
                "-c",
                f"{sys.executable} -m lvstop {' '.join(argv)}",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    else:
        proc = run_in(ns, how, argv, world_readable)
    assert proc.returncode == 2
    assert proc.stderr == PERM
    assert proc.stdout == ""


def test_user_namespace_root_is_not_enough(ns: str) -> None:
    proc = subprocess.run(
        [
            "unshare",
            "--user",
            "--map-root-user",
            "--net",
            "setpriv",
            "--reuid=0",
            sys.executable,
            "-m",
            "lvstop",
            "dump",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2 and proc.stderr == PERM, proc.stderr


def test_unprivileged_write_is_one_line(ns: str, tmp_path: Path) -> None:
    tmp_path.chmod(0o777)
    proc = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            ns,
            "capsh",
            "--drop=cap_net_admin",
            "--",
            "-c",
            f"{sys.executable} -m lvstop weight 'tcp:10.0.5.96:80->10.0.5.91:80' 3 "
            f"--audit-log {tmp_path}/a.log --state-file {tmp_path}/s.json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2 and proc.stderr == PERM, proc.stderr


@pytest.mark.parametrize("view", ["--conns", "--conn-counts"])
def test_connection_views_need_no_privilege(ns: str, view: str, world_readable: Path) -> None:
    """/proc/net/ip_vs_conn is world-readable: the connection views work as nobody."""
    proc = run_in(ns, NOBODY, ["dump", view], world_readable)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("pro ")
