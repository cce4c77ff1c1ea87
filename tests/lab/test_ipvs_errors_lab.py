"""Without privilege, lvstop's IPVS commands give one line, not a traceback (lab VM)."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.lab

PERM = "lvstop: needs root or CAP_NET_ADMIN\n"


def run_in(ns: str, prefix: list[str], argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", ns, *prefix, sys.executable, "-m", "lvstop",
                           *argv], capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def ns(lab):
    with lab.scratch_netns() as name:
        subprocess.run(["ip", "netns", "exec", name, "ipvsadm", "-A", "-t", "10.0.5.96:80"],
                       check=True)
        yield name


@pytest.mark.parametrize("how", [
    ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
     "--bounding-set=-all"],
    ["capsh", "--drop=cap_net_admin", "--"],
])
@pytest.mark.parametrize("argv", [["dump"], ["dump", "--json"], ["dump", "--timeouts"]])
def test_unprivileged_read_is_one_line(ns, how, argv):
    if how[0] == "capsh":
        proc = subprocess.run(
            ["ip", "netns", "exec", ns, "capsh", "--drop=cap_net_admin", "--", "-c",
             f"{sys.executable} -m lvstop {' '.join(argv)}"],
            capture_output=True, text=True, timeout=60, check=False)
    else:
        proc = run_in(ns, how, argv)
    assert proc.returncode == 2
    assert proc.stderr == PERM
    assert proc.stdout == ""


def test_user_namespace_root_is_not_enough(ns):
    proc = subprocess.run(["unshare", "--user", "--map-root-user", "--net", "setpriv",
                           "--reuid=0", sys.executable, "-m", "lvstop", "dump"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2 and proc.stderr == PERM, proc.stderr


def test_unprivileged_write_is_one_line(ns, tmp_path):
    tmp_path.chmod(0o777)
    proc = subprocess.run(
        ["ip", "netns", "exec", ns, "capsh", "--drop=cap_net_admin", "--", "-c",
         f"{sys.executable} -m lvstop weight 'tcp:10.0.5.96:80->10.0.5.91:80' 3 "
         f"--audit-log {tmp_path}/a.log --state-file {tmp_path}/s.json"],
        capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2 and proc.stderr == PERM, proc.stderr


@pytest.mark.parametrize("view", ["--conns", "--conn-counts"])
def test_connection_views_need_no_privilege(ns, view):
    """/proc/net/ip_vs_conn is world-readable: the connection views work as nobody."""
    proc = run_in(ns, ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                       "--inh-caps=-all", "--bounding-set=-all"], ["dump", view])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("pro ")
