"""lvstop.sources.host: psutil readings, interface rates, keepalived discovery."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from lvstop.model.host import HostStats, InterfaceRate
from lvstop.sources.host import HostReader, find_keepalived, interface_rates


def test_interface_rates_from_two_readings() -> None:
    before = {"eth0": (1000, 500), "eth1": (0, 0)}
    after = {"eth0": (3000, 1500), "eth1": (10, 20), "new0": (5, 5)}
    rates = interface_rates(before, after, 2.0)
    assert rates == (InterfaceRate("eth0", 1000.0, 500.0), InterfaceRate("eth1", 5.0, 10.0))


def test_interface_rates_counter_reset_is_zero_not_negative() -> None:
    rates = interface_rates({"eth0": (5000, 5000)}, {"eth0": (100, 6000)}, 1.0)
    assert rates == (InterfaceRate("eth0", 0.0, 1000.0),)
    assert interface_rates({"eth0": (0, 0)}, {"eth0": (1, 1)}, 0.0) == ()


def test_reader_reports_rates_only_from_the_second_read() -> None:
    now = [1000.0]
    reader = HostReader(clock=lambda: now[0])
    first = reader.read()
    assert first.interfaces == ()
    assert first.mem_total == psutil.virtual_memory().total
    assert 0 < first.mem_used <= first.mem_total
    assert 0.0 <= first.cpu_percent <= 100.0 * psutil.cpu_count()
    now[0] += 1.0
    second = reader.read()
    names = {i.name for i in second.interfaces}
    assert "lo" not in names
    assert names <= set(psutil.net_io_counters(pernic=True))
    assert all(i.rx_bps >= 0 and i.tx_bps >= 0 for i in second.interfaces)


def test_find_keepalived_sees_a_process_named_keepalived(tmp_path: Path) -> None:
    """A root-owned keepalived run by root in lvstop's network namespace (a copy of sleep:
    named keepalived, root's, not writable by others)."""
    if os.geteuid() != 0:
        pytest.skip("only root's keepalived counts")
    tmp_path.chmod(0o755)
    fake = tmp_path / "keepalived"
    sleep = shutil.which("sleep")
    assert sleep
    shutil.copy(sleep, fake)
    before = find_keepalived()
    proc = subprocess.Popen([str(fake), "30"])
    try:
        deadline = time.time() + 30  # returns as soon as it is seen
        found = find_keepalived()
        while proc.pid not in found.pids and time.time() < deadline:
            time.sleep(0.05)
            found = find_keepalived()
        assert proc.pid in found.pids
        assert found.running
        assert found.started is not None
        uptime = found.uptime(time.time())
        assert uptime is not None and uptime < 60 + (
            0 if before.started is None else time.time() - before.started
        )
    finally:
        proc.kill()
        proc.wait()
    assert proc.pid not in find_keepalived().pids


def test_host_stats_round_trip() -> None:
    stats = HostReader().read()
    assert HostStats.from_dict(stats.to_dict()) == stats
