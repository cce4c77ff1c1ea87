"""Host tests of the lab's pytest integration, with the VM replaced by stand-ins.

The real thing (one UML boot per session) is exercised by every run of ``tests/lab``; here
the hooks are checked for the cases that must never turn into a silent pass or skip.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any, NoReturn

import pytest

from lvstop.lab import vm

pytest_plugins = ["pytester"]

CONFTEST = """
from lab_plugin import (
    pytest_addoption, pytest_collection_finish, pytest_collection_modifyitems,
    pytest_collectreport, pytest_configure, pytest_runtest_logreport,
    pytest_runtest_call, pytest_runtest_protocol, pytest_runtestloop, pytest_sessionfinish,
    pytest_unconfigure,
)
"""

INI = """
[pytest]
asyncio_default_fixture_loop_scope = function
markers =
    lab: in the lab
    long: a long lab test
"""

TESTS = """
import pytest

@pytest.mark.lab
def test_inner_fails():
    assert 1 == 2, "inner failure text"

@pytest.mark.lab
def test_inner_passes():
    pass

@pytest.mark.lab
def test_inner_skips():
    pytest.skip("inner skip reason")

def test_on_host():
    pass
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.delenv("LVSTOP_IN_LAB", raising=False)
    monkeypatch.delenv("LVSTOP_LAB_REQUIRED", raising=False)
    # run folders of failing stand-in VMs are kept: not in the checkout's .lab/
    monkeypatch.setenv("LVSTOP_LAB_DIR", str(pytester.path / ".lab"))
    pytester.makeconftest(CONFTEST)
    pytester.makeini(INI)
    pytester.makepyfile(test_things=TESTS)
    return pytester


def test_lab_tests_skip_with_the_package_name_without_uml(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vm, "REQUIRED_PROGRAMS", (("no-such-linux.uml", "user-mode-linux"),))
    result = project.runpytest("-rs", "-p", "no:cacheprovider", "-p", "no:textual-snapshot")
    result.assert_outcomes(passed=1, skipped=3)
    result.stdout.fnmatch_lines(["*apt-get install -y user-mode-linux*"])


def test_required_lab_fails_instead_of_skipping(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vm, "REQUIRED_PROGRAMS", (("no-such-linux.uml", "user-mode-linux"),))
    monkeypatch.setenv("LVSTOP_LAB_REQUIRED", "1")
    result = project.runpytest("-p", "no:cacheprovider", "-p", "no:textual-snapshot")
    result.assert_outcomes(passed=1, errors=3)


def test_a_vm_that_dies_fails_every_lab_test(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vm, "check_host", lambda: "/bin/true")
    monkeypatch.setattr(
        vm,
        "start",
        lambda run_dir, timeout, **kw: subprocess.Popen(["true"], start_new_session=True),
    )
    result = project.runpytest("-p", "no:cacheprovider", "-p", "no:textual-snapshot")
    result.assert_outcomes(passed=1, failed=3)
    result.stdout.fnmatch_lines(["*died without an exit status*"])


def test_a_vm_that_cannot_start_fails_every_lab_test(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    def cannot(run_dir: Path, timeout: float, **kw: Any) -> NoReturn:
        raise OSError(12, "Cannot allocate memory")

    monkeypatch.setattr(vm, "check_host", lambda: "/bin/true")
    monkeypatch.setattr(vm, "start", cannot)
    result = project.runpytest("-p", "no:cacheprovider", "-p", "no:textual-snapshot")
    result.assert_outcomes(passed=1, failed=3)
    result.stdout.fnmatch_lines(["*could not start the lab VM*Cannot allocate memory*"])


def test_a_lab_the_vm_cannot_see_is_refused_before_anything_runs(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*a: Any, **kw: Any) -> NoReturn:
        raise AssertionError("booted a VM")

    monkeypatch.setattr(vm, "check_host", lambda: "/bin/true")
    monkeypatch.setattr(vm, "start", boom)
    monkeypatch.setenv("LVSTOP_LAB_DIR", "/tmp")
    result = project.runpytest("-p", "no:cacheprovider", "-p", "no:textual-snapshot")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.assert_outcomes()  # not even the host's test ran
    result.stderr.fnmatch_lines(["ERROR: lvstop lab: the lab cannot use /tmp itself*"])
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def _exports(init: str) -> dict[str, str]:
    env = {}
    for line in init.splitlines():
        if line.startswith("export "):
            key, _, val = line[len("export ") :].partition("=")
            env[key] = shlex.split(val)[0] if val else ""
    return env


@pytest.fixture
def host_as_vm(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """The 'VM' runs the inner pytest on the host: same hooks, same report stream."""

    def fake_start(run_dir: Path, timeout: float, **kw: Any) -> subprocess.Popen[bytes]:
        payload = vm.Payload.from_json((run_dir / "payload.json").read_text())
        env = dict(os.environ)
        env.update(_exports((run_dir / "init.sh").read_text()))
        env["PATH"] = os.environ["PATH"]
        # the project's conftest imports tests/lab_plugin.py, as tests/conftest.py does in the VM
        env["PYTHONPATH"] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        cmd = shlex.join([sys.executable, "-m", "pytest", *payload.argv])
        return subprocess.Popen(
            ["sh", "-c", f"{cmd} >/dev/null; echo $? > {run_dir}/status"],
            env=env,
            cwd=project.path,
            start_new_session=True,
        )

    monkeypatch.setattr(vm, "check_host", lambda: "/bin/true")
    monkeypatch.setattr(vm, "start", fake_start)
    return project


def test_inner_results_come_back_as_real_outcomes(host_as_vm: pytest.Pytester) -> None:
    result = host_as_vm.runpytest("-rs", "-p", "no:cacheprovider", "-p", "no:textual-snapshot")
    result.assert_outcomes(passed=2, failed=1, skipped=1)
    result.stdout.fnmatch_lines(["*AssertionError: inner failure text*", "*inner skip reason*"])


def test_a_hung_lab_test_fails_on_its_own(
    host_as_vm: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LVSTOP_LAB_TEST_TIMEOUT", "1")
    host_as_vm.makepyfile(
        test_hang="""
import time, pytest

@pytest.mark.lab
def test_hangs():
    time.sleep(30)

@pytest.mark.lab
def test_next_one_still_runs():
    pass
"""
    )
    result = host_as_vm.runpytest(
        "test_hang.py", "-p", "no:cacheprovider", "-p", "no:textual-snapshot"
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*still running after 1s*"])


def test_unselected_lab_tests_boot_nothing(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*a: Any, **kw: Any) -> NoReturn:
        raise AssertionError("booted a VM")

    monkeypatch.setattr(vm, "start", boom)
    result = project.runpytest(
        "-p", "no:cacheprovider", "-p", "no:textual-snapshot", "-m", "not lab"
    )
    result.assert_outcomes(passed=1, deselected=3)


# Two test files that can only both pass when two VMs run them at the same time: each waits
# for the other to have started (a VM runs its files one after the other).
MEET = """
import os, time, pytest
from pathlib import Path

def meet(me, other):
    here = Path(os.environ["MEET_DIR"])
    (here / me).write_text(os.environ["LVSTOP_LAB_RESULTS"])
    deadline = time.monotonic() + 60
    while not (here / other).exists():
        assert time.monotonic() < deadline, f"{other} never started beside {me}"
        time.sleep(0.05)

@pytest.mark.lab
def test_NAME_meets():
    meet("NAME", "OTHER")

@pytest.mark.lab
def test_NAME_second():
    with open(Path(os.environ["MEET_DIR"]) / "ran", "a") as f:
        f.write("NAME\\n")
"""


def test_two_vms_share_the_files_and_run_each_test_once(
    host_as_vm: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEET_DIR", str(tmp_path))
    host_as_vm.makepyfile(
        test_aa=MEET.replace("NAME", "aa").replace("OTHER", "bb"),
        test_bb=MEET.replace("NAME", "bb").replace("OTHER", "aa"),
    )
    result = host_as_vm.runpytest(
        "test_aa.py", "test_bb.py", "-p", "no:cacheprovider", "-p", "no:textual-snapshot"
    )
    result.assert_outcomes(passed=4)
    assert sorted((tmp_path / "ran").read_text().split()) == ["aa", "bb"]
    # each file ran in its own VM
    assert (tmp_path / "aa").read_text() != (tmp_path / "bb").read_text()


def test_one_vm_takes_every_file_when_the_other_cannot_start(
    host_as_vm: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = vm.start
    calls: list[Path] = []

    def first_fails(run_dir: Path, timeout: float, **kw: Any) -> subprocess.Popen[bytes]:
        calls.append(run_dir)
        if len(calls) == 1:
            raise OSError(12, "Cannot allocate memory")
        return started(run_dir, timeout, **kw)

    monkeypatch.setattr(vm, "start", first_fails)
    host_as_vm.makepyfile(
        test_more="""
import pytest

@pytest.mark.lab
def test_more():
    pass
"""
    )
    result = host_as_vm.runpytest("-p", "no:cacheprovider", "-p", "no:textual-snapshot")
    assert len(calls) == 2
    result.assert_outcomes(passed=3, failed=1, skipped=1)


def test_a_long_test_puts_its_file_first(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lab_plugin import claim_order

    project.makepyfile(
        test_zz_long="""
import pytest

@pytest.mark.lab
def test_quick():
    pass

@pytest.mark.lab
@pytest.mark.long
def test_slow():
    pass
"""
    )
    items, _ = project.inline_genitems(
        "-m", "lab", "-p", "no:textual-snapshot", "-p", "no:cacheprovider"
    )
    lab_items = [item for item in items if item.get_closest_marker("lab") is not None]
    names = [item.name for item in claim_order(lab_items)]
    assert names[:2] == ["test_quick", "test_slow"]
    assert set(names[2:]) == {"test_inner_fails", "test_inner_passes", "test_inner_skips"}


@pytest.mark.parametrize("given", ["0", "two", "-1"])
def test_a_bad_vm_count_is_one_line(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    monkeypatch.setattr(vm, "check_host", lambda: "/bin/true")
    monkeypatch.setattr(
        vm, "start", lambda *a, **kw: (_ for _ in ()).throw(AssertionError("booted a VM"))
    )
    result = project.runpytest(
        "-p", "no:cacheprovider", "-p", "no:textual-snapshot", f"--lab-vms={given}"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: lvstop lab: the number of lab VMs must be*"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_xdist_without_not_lab_is_one_line(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        vm, "start", lambda *a, **kw: (_ for _ in ()).throw(AssertionError("booted a VM"))
    )
    result = project.runpytest("-p", "no:cacheprovider", "-p", "no:textual-snapshot", "-n", "2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ['ERROR: lvstop lab: -n runs the host tests only; add -m "not lab"*']
    )
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
