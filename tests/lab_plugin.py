"""pytest integration: ``lab``-marked tests run inside lab VMs (two by default) per session.

On the host (``LVSTOP_IN_LAB`` unset): once collection is done, if any selected test is marked
``lab``, the VMs boot in the background (while the host runs the other tests) and each runs an
inner pytest on those tests; the VMs share them file by file, each taking the next file no VM
has claimed yet (``long``-marked files first). Each inner pytest streams its serialized
reports to ``<run dir>/vmN/results.jsonl``; the host replays each lab test's reports as that
test's own, so failures show the inner traceback and count as real failures. Without
``linux.uml`` the lab tests are skipped with the reason (``LVSTOP_LAB_REQUIRED=1`` makes that
a failure); with it, a test that a VM claimed and did not finish (it died, timed out) FAILS,
never skips; a VM that cannot start leaves its share to the others.

Inside the VM (``LVSTOP_IN_LAB=1``) the same hooks select the listed tests and write reports.
The hooks are imported by ``tests/conftest.py``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any, Literal

import pytest

ENV_IN_LAB = "LVSTOP_IN_LAB"
ENV_RESULTS = "LVSTOP_LAB_RESULTS"
ENV_SELECT = "LVSTOP_LAB_SELECT"
ENV_REQUIRED = "LVSTOP_LAB_REQUIRED"
ENV_CLAIMS = "LVSTOP_LAB_CLAIMS"
ENV_VMS = "LVSTOP_LAB_VMS"
DEFAULT_VMS = 2
LAB_DIR_PARTS = ("tests", "lab")

_host_key = pytest.StashKey["HostLab"]()


def in_vm() -> bool:
    return os.environ.get(ENV_IN_LAB) == "1"


def is_lab_item(item: pytest.Item) -> bool:
    return item.get_closest_marker("lab") is not None


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lvstop lab")
    group.addoption(
        "--lab-timeout",
        type=float,
        default=None,
        help="seconds before the lab VM is killed (default $LVSTOP_LAB_TIMEOUT or 3600)",
    )
    group.addoption(
        "--lab-keep",
        action="store_true",
        help="keep the lab run folder under .lab/ even when all lab tests pass",
    )
    group.addoption(
        "--lab-vms",
        default=None,
        help=f"lab VMs sharing the lab tests, file by file (default ${ENV_VMS} or {DEFAULT_VMS})",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    # Everything under tests/lab needs the VM: mark it before `-m` deselection runs.
    for item in items:
        parts = item.path.parts
        if any(
            parts[i : i + 2] == LAB_DIR_PARTS for i in range(len(parts) - 1)
        ) and not is_lab_item(item):
            item.add_marker(pytest.mark.lab)
    if not in_vm():
        # Lab tests last: the VM boots and runs them while the host runs everything else.
        items[:] = [it for it in items if not is_lab_item(it)] + claim_order(
            [it for it in items if is_lab_item(it)]
        )
    select = os.environ.get(ENV_SELECT)
    if in_vm() and select:
        wanted = Path(select).read_text().splitlines()
        order = {nodeid: i for i, nodeid in enumerate(wanted)}
        kept = sorted((it for it in items if it.nodeid in order), key=lambda it: order[it.nodeid])
        dropped = [it for it in items if it.nodeid not in order]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        items[:] = kept


# --- inside the VM: stream reports to the host ----------------------------------------------

ENV_TEST_TIMEOUT = "LVSTOP_LAB_TEST_TIMEOUT"
DEFAULT_TEST_TIMEOUT = 300.0


class LabTestTimeout(Exception):
    pass


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """Inside the VM a hung lab test fails on its own instead of eating the VM's timeout."""
    if not in_vm() or not is_lab_item(item):
        yield
        return
    import signal

    from lvstop.lab.runtime import load_factor

    # For an idle host; a busy one slows the VM, its deadlines grow with its load.
    seconds = float(os.environ.get(ENV_TEST_TIMEOUT) or DEFAULT_TEST_TIMEOUT) * load_factor()

    def expired(signum: int, frame: object) -> None:
        raise LabTestTimeout(f"lab test still running after {seconds:g}s (${ENV_TEST_TIMEOUT})")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def claim(claims: Path, path: Path) -> bool:
    """Take a test file for this VM: the first VM to create its folder runs it (mkdir is
    atomic on the host's file system through hostfs; an O_EXCL create is not)."""
    name = hashlib.sha256(str(path).encode()).hexdigest()[:32]
    try:
        (claims / name).mkdir()
    except FileExistsError:
        return False
    return True


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> bool | None:
    """Inside a VM that shares the tests with others: run the files this VM claims.

    pytest's own loop, file by file: a file is claimed only when this VM is free to start it
    (claiming ahead would hold a file back while a long test runs), so the last test of a
    file gets ``nextitem=None`` and its session fixtures are set up again for the next file
    (they are cheap: the lab itself stays up)."""
    claims = os.environ.get(ENV_CLAIMS)
    if not in_vm() or not claims:
        return None
    if session.testsfailed and not session.config.option.continue_on_collection_errors:
        raise session.Interrupted(f"{session.testsfailed} error(s) during collection")
    if session.config.option.collectonly:
        return True
    by_file: dict[Path, list[pytest.Item]] = {}
    for item in session.items:
        by_file.setdefault(item.path, []).append(item)
    for path, items in by_file.items():
        if not claim(Path(claims), path):
            continue
        for i, item in enumerate(items):
            nextitem = items[i + 1] if i + 1 < len(items) else None
            item.config.hook.pytest_runtest_protocol(item=item, nextitem=nextitem)
            if session.shouldfail:
                raise session.Failed(session.shouldfail)
            if session.shouldstop:
                raise session.Interrupted(session.shouldstop)
    return True


def _append(record: dict[str, Any]) -> None:
    path = os.environ.get(ENV_RESULTS)
    if not path:
        return
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if not in_vm() or not os.environ.get(ENV_RESULTS):
        return
    if not _configs:
        return
    config = _configs[-1]
    data = config.hook.pytest_report_to_serializable(config=config, report=report)
    _append({"report": data})


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if in_vm() and os.environ.get(ENV_RESULTS) and report.failed:
        _append({"collect_error": report.nodeid, "text": str(report.longrepr)[-4000:]})


# The active configs (a stack: pytester runs sessions inside a session).
_configs: list[pytest.Config] = []


def pytest_configure(config: pytest.Config) -> None:
    _configs.append(config)
    # pytest-xdist's workers would each boot lab VMs for the same lab tests: -n is for the
    # host tests (the fast loop); the lab tests share their own VMs (--lab-vms)
    workers = getattr(config.option, "numprocesses", None)
    if workers and not in_vm() and "not lab" not in (config.option.markexpr or ""):
        raise pytest.UsageError(
            'lvstop lab: -n runs the host tests only; add -m "not lab" '
            "(the lab tests share their own VMs: --lab-vms)"
        )


def pytest_unconfigure(config: pytest.Config) -> None:
    if config in _configs:
        _configs.remove(config)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if in_vm():
        if os.environ.get(ENV_RESULTS):
            _append({"finished": int(exitstatus)})
        return
    host = session.config.stash.get(_host_key, None)
    if host is not None:
        host.stop()


# --- on the host: boot the VMs, replay reports ----------------------------------------------


class _Vm:
    """One lab VM of the session and what the host has read of its report stream."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.start_error: str | None = None
        self.finished: int | None = None
        self.result: Any = None
        self._offset = 0
        self._partial = b""

    def read(self, host: HostLab) -> None:
        try:
            with (self.run_dir / "results.jsonl").open("rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except FileNotFoundError:
            return
        self._offset += len(chunk)
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if "report" in record:
                rep = record["report"]
                nodeid = rep.get("nodeid", "")
                host.reports.setdefault(nodeid, []).append(rep)
                if rep.get("when") == "teardown":
                    host.done.add(nodeid)
            elif "collect_error" in record:
                host.collect_errors.append(f"{record['collect_error']}: {record['text']}")
            elif "finished" in record:
                self.finished = int(record["finished"])

    def exited(self) -> bool:
        """True once the VM is gone (or never started); its result is then known."""
        if self.proc is None:
            return True
        if self.proc.poll() is None:
            return False
        if self.result is None:
            from lvstop.lab import vm

            self.result = vm.result(self.run_dir, self.proc.returncode)
        return True

    def why(self) -> list[str]:
        name = self.run_dir.name
        if self.start_error:
            return [f"{name}: {self.start_error}"]
        failure = self.result.failure() if self.result is not None else None
        if failure:
            return [f"{name}: {failure}"]
        if self.finished is not None:
            return [f"{name}: the inner pytest finished (status {self.finished}) without it"]
        return []


def vm_count(config: pytest.Config, units: int) -> int:
    """How many lab VMs share the session's lab tests (``--lab-vms``, ``$LVSTOP_LAB_VMS``,
    default 2): a VM spends much of a test waiting on protocol timers, so two overlap well
    even on two cores. Never more than there are test files to share."""
    given = config.getoption("lab_vms") or os.environ.get(ENV_VMS) or str(DEFAULT_VMS)
    try:
        count = int(given)
    except ValueError:
        count = 0
    if count < 1:
        raise pytest.UsageError(
            f"lvstop lab: the number of lab VMs must be a whole number "
            f"of at least 1, not {given!r} (--lab-vms, ${ENV_VMS})"
        )
    return max(1, min(count, units))


def claim_order(items: list[pytest.Item]) -> list[pytest.Item]:
    """Test files with a ``long`` test first (the VMs take whole files in this order, so the
    longest start first and the VMs finish close together), then the rest as collected."""
    files = list(dict.fromkeys(item.path for item in items))
    long_files = {item.path for item in items if item.get_closest_marker("long") is not None}
    order = {path: (path not in long_files, i) for i, path in enumerate(files)}
    return sorted(items, key=lambda item: order[item.path])


class HostLab:
    def __init__(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        self.config = config
        self.items = items
        self.skip_reason: str | None = None
        self.run_dir: Path | None = None
        self.vms: list[_Vm] = []
        self.reports: dict[str, list[dict[str, Any]]] = {}
        self.done: set[str] = set()
        self.collect_errors: list[str] = []
        self.any_failed = False

    def start(self) -> None:
        from lvstop.errors import LvstopError
        from lvstop.lab import vm

        try:
            vm.check_host()
        except LvstopError as exc:
            self.skip_reason = str(exc)
            return
        count = vm_count(self.config, len({item.path for item in self.items}))
        try:
            vm.check_location()
            timeout = self.config.getoption("lab_timeout") or vm.boot_timeout_default("pytest")
            run_dir = vm.make_run_dir("pytest-")
        except LvstopError as exc:
            # Not a skip and not a test failure: nothing can run from here. One line, no boot.
            raise pytest.UsageError(f"lvstop lab: {exc}") from None
        self.run_dir = run_dir
        select = run_dir / "select.txt"
        select.write_text("".join(item.nodeid + "\n" for item in self.items))
        claims = run_dir / "claims"
        claims.mkdir()
        files = list(dict.fromkeys(str(item.path) for item in self.items))
        argv = [*files, "-p", "no:cacheprovider", "-q", "--rootdir", str(self.config.rootpath)]
        if self.config.inipath is not None:
            argv += ["-c", str(self.config.inipath)]
        tbstyle = self.config.getoption("tbstyle", "auto")
        if tbstyle and tbstyle != "auto":
            argv.append(f"--tb={tbstyle}")
        if self.config.getoption("showlocals", False):
            argv.append("--showlocals")
        payload = vm.Payload("pytest", tuple(argv))
        for number in range(1, count + 1):
            one = _Vm(run_dir / f"vm{number}")
            one.run_dir.mkdir()
            env = {
                ENV_RESULTS: str(one.run_dir / "results.jsonl"),
                ENV_SELECT: str(select),
                ENV_CLAIMS: str(claims),
            }
            vm.prepare(payload, env, one.run_dir, shared=(run_dir,))
            try:
                one.proc = vm.start(one.run_dir, timeout)
            except (OSError, LvstopError) as exc:
                # Not a skip: the lab is installed but could not start. The other VM (if
                # any) takes every test file; with none, every lab test fails.
                one.start_error = f"could not start the lab VM: {exc}"
            self.vms.append(one)

    def _read(self) -> None:
        for one in self.vms:
            one.read(self)

    def wait_for(self, nodeid: str) -> None:
        while True:
            self._read()
            if nodeid in self.done:
                return
            if all(one.exited() for one in self.vms):
                self._read()
                return
            time.sleep(0.1)

    def why_missing(self, nodeid: str) -> str:
        lines = [f"lab test {nodeid} did not run inside the lab VM"]
        for one in self.vms:
            lines += one.why()
        lines += self.collect_errors
        if self.run_dir is not None:
            lines.append(f"run folder: {self.run_dir} (vm*/console.log, progress)")
        return "\n".join(lines)

    def stop(self) -> None:
        for one in self.vms:
            if one.proc is not None and one.proc.poll() is None:
                # The session ended early (-x, Ctrl-C): stop the VM and its helpers.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(one.proc.pid, 15)
                try:
                    one.proc.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(one.proc.pid, 9)
                    one.proc.wait()
        clean = bool(self.vms) and all(
            one.proc is not None and one.proc.returncode == 0 for one in self.vms
        )
        if (
            self.run_dir is not None
            and not self.any_failed
            and clean
            and not self.config.getoption("lab_keep")
        ):
            import shutil

            shutil.rmtree(self.run_dir, ignore_errors=True)


def pytest_collection_finish(session: pytest.Session) -> None:
    if in_vm() or session.config.option.collectonly:
        return
    lab_items = [item for item in session.items if is_lab_item(item)]
    if not lab_items:
        return
    host = HostLab(session.config, lab_items)
    session.config.stash[_host_key] = host
    host.start()


def _location_tuple(item: pytest.Item) -> tuple[str, int | None, str]:
    path, lineno, domain = item.location
    return path, lineno, domain


def _emit(item: pytest.Item, reports: list[pytest.TestReport]) -> None:
    ihook = item.ihook
    ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    for rep in reports:
        ihook.pytest_runtest_logreport(report=rep)
    ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)


def _report(
    item: pytest.Item,
    when: Literal["setup", "call", "teardown"],
    outcome: Literal["passed", "failed", "skipped"],
    longrepr: Any = None,
    duration: float = 0.0,
) -> pytest.TestReport:
    keywords = {name: 1 for name in item.keywords}
    return pytest.TestReport(
        item.nodeid, _location_tuple(item), keywords, outcome, longrepr, when, duration=duration
    )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
    if in_vm() or not is_lab_item(item):
        return None
    host = item.config.stash.get(_host_key, None)
    if host is None:
        return None
    if host.skip_reason is not None:
        if os.environ.get(ENV_REQUIRED) == "1":
            reports = [_report(item, "setup", "failed", f"{ENV_REQUIRED}=1: {host.skip_reason}")]
        else:
            path, lineno, _ = item.reportinfo()
            skip = (str(path), (lineno or 0) + 1, f"Skipped: {host.skip_reason}")
            reports = [_report(item, "setup", "skipped", skip)]
        reports.append(_report(item, "teardown", "passed"))
        _emit(item, reports)
        return True
    host.wait_for(item.nodeid)
    config = item.config
    datas = host.reports.get(item.nodeid, [])
    reports = [config.hook.pytest_report_from_serializable(config=config, data=d) for d in datas]
    for rep in reports:
        # JSON made the skip location tuple a list; the terminal summary asserts a tuple.
        if isinstance(rep.longrepr, list):
            rep.longrepr = tuple(rep.longrepr)
    if item.nodeid not in host.done:
        host.any_failed = True
        if not any(r.when == "setup" for r in reports):
            reports.append(_report(item, "setup", "passed"))
        reports.append(_report(item, "call", "failed", host.why_missing(item.nodeid)))
        reports.append(_report(item, "teardown", "passed"))
    elif any(r.failed for r in reports):
        host.any_failed = True
    _emit(item, reports)
    return True
