"""pytest integration: every ``lab``-marked test runs inside ONE lab VM per host session.

On the host (``LVSTOP_IN_LAB`` unset): once collection is done, if any selected test is marked
``lab``, one VM boots in the background (while the host runs the other tests) and runs an
inner pytest on exactly those tests. The inner pytest streams its serialized reports to
``<run dir>/results.jsonl``; the host replays each lab test's reports as that test's own, so
failures show the inner traceback and count as real failures. Without ``linux.uml`` the lab
tests are skipped with the reason (``LVSTOP_LAB_REQUIRED=1`` makes that a failure); with it,
a VM that dies, times out or never runs a test FAILS that test, never skips it.

Inside the VM (``LVSTOP_IN_LAB=1``) the same hooks select the listed tests and write reports.
The hooks are imported by ``tests/conftest.py``.
"""

from __future__ import annotations

import contextlib
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
LAB_DIR_PARTS = ("tests", "lab")

_host_key = pytest.StashKey["HostLab"]()


def in_vm() -> bool:
    return os.environ.get(ENV_IN_LAB) == "1"


def is_lab_item(item: pytest.Item) -> bool:
    return item.get_closest_marker("lab") is not None


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lvstop lab")
    group.addoption("--lab-timeout", type=float, default=None,
                    help="seconds before the lab VM is killed (default $LVSTOP_LAB_TIMEOUT "
                    "or 3600)")
    group.addoption("--lab-keep", action="store_true",
                    help="keep the lab run folder under .lab/ even when all lab tests pass")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    # Everything under tests/lab needs the VM: mark it before `-m` deselection runs.
    for item in items:
        parts = item.path.parts
        if any(parts[i:i + 2] == LAB_DIR_PARTS for i in range(len(parts) - 1)) \
                and not is_lab_item(item):
            item.add_marker(pytest.mark.lab)
    if not in_vm():
        # Lab tests last: the VM boots and runs them while the host runs everything else.
        items[:] = [it for it in items if not is_lab_item(it)] + \
            [it for it in items if is_lab_item(it)]
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
        raise LabTestTimeout(f"lab test still running after {seconds:g}s "
                             f"(${ENV_TEST_TIMEOUT})")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


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


# --- on the host: boot once, replay reports --------------------------------------------------

class HostLab:
    def __init__(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        self.config = config
        self.items = items
        self.skip_reason: str | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.run_dir: Path | None = None
        self.reports: dict[str, list[dict[str, Any]]] = {}
        self.done: set[str] = set()
        self.collect_errors: list[str] = []
        self.finished: int | None = None
        self._offset = 0
        self._partial = b""
        self.vm_result: Any = None
        self.any_failed = False
        self.start_error: str | None = None

    def start(self) -> None:
        from lvstop.errors import LvstopError
        from lvstop.lab import vm

        try:
            vm.check_host()
        except LvstopError as exc:
            self.skip_reason = str(exc)
            return
        try:
            vm.check_location()
            timeout = self.config.getoption("lab_timeout") or vm.boot_timeout_default("pytest")
            run_dir = vm.make_run_dir("pytest-")
        except LvstopError as exc:
            # Not a skip and not a test failure: nothing can run from here. One line, no boot.
            raise pytest.UsageError(f"lvstop lab: {exc}") from None
        select = run_dir / "select.txt"
        select.write_text("".join(item.nodeid + "\n" for item in self.items))
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
        env = {ENV_RESULTS: str(run_dir / "results.jsonl"), ENV_SELECT: str(select)}
        vm.prepare(payload, env, run_dir)
        self.run_dir = run_dir
        self.started = time.monotonic()
        try:
            self.proc = vm.start(run_dir, timeout)
        except (OSError, LvstopError) as exc:
            # Not a skip: the lab is installed but could not start. Every lab test fails.
            self.start_error = f"could not start the lab VM: {exc}"

    def _read(self) -> None:
        assert self.run_dir is not None
        path = self.run_dir / "results.jsonl"
        try:
            with path.open("rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except FileNotFoundError:
            return
        self._offset += len(chunk)
        data = self._partial + chunk
        lines = data.split(b"\n")
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
                self.reports.setdefault(nodeid, []).append(rep)
                if rep.get("when") == "teardown":
                    self.done.add(nodeid)
            elif "collect_error" in record:
                self.collect_errors.append(f"{record['collect_error']}: {record['text']}")
            elif "finished" in record:
                self.finished = int(record["finished"])

    def wait_for(self, nodeid: str) -> None:
        if self.proc is None:
            return
        while True:
            self._read()
            if nodeid in self.done:
                return
            if self.proc.poll() is not None:
                self._read()
                if self.vm_result is None:
                    from lvstop.lab import vm

                    assert self.run_dir is not None
                    self.vm_result = vm.result(self.run_dir, self.proc.returncode)
                return
            time.sleep(0.1)

    def why_missing(self, nodeid: str) -> str:
        failure = self.vm_result.failure() if self.vm_result is not None else None
        lines = [f"lab test {nodeid} did not run inside the lab VM"]
        if self.start_error:
            lines.append(self.start_error)
        if failure:
            lines.append(failure)
        elif self.finished is not None:
            lines.append(f"the inner pytest finished (status {self.finished}) without it")
        lines += self.collect_errors
        if self.run_dir is not None:
            lines.append(f"run folder: {self.run_dir} (console.log, progress)")
        return "\n".join(lines)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            # The session ended early (-x, Ctrl-C): stop the VM and its helpers.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()
        if (self.run_dir is not None and not self.any_failed and self.proc is not None
                and self.proc.returncode == 0 and not self.config.getoption("lab_keep")):
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


def _report(item: pytest.Item, when: Literal["setup", "call", "teardown"],
            outcome: Literal["passed", "failed", "skipped"], longrepr: Any = None,
            duration: float = 0.0) -> pytest.TestReport:
    keywords = {name: 1 for name in item.keywords}
    return pytest.TestReport(item.nodeid, _location_tuple(item), keywords, outcome,
                             longrepr, when, duration=duration)


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
    reports = [config.hook.pytest_report_from_serializable(config=config, data=d)
               for d in datas]
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
