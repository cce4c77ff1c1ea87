"""contrib/prometheus/: the alerting rules pass ``promtool check rules`` and their unit tests
(``promtool test rules``), and every lvstop metric they use is one ``lvstop export`` serves."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from lvstop.export.metrics import METRICS

CONTRIB = Path(__file__).resolve().parents[2] / "contrib" / "prometheus"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool missing (Debian's prometheus package; ./dev.sh installs it)"
)


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], cwd=CONTRIB, capture_output=True, text=True, timeout=300, check=False
    )


@needs_promtool
def test_rules_check() -> None:
    proc = promtool("check", "rules", "lvstop-alerts.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 11 rules found" in proc.stdout


@needs_promtool
def test_rules_unit_tests_pass() -> None:
    proc = promtool("test", "rules", "lvstop-alerts.test.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_rules_use_only_served_metrics() -> None:
    text = (CONTRIB / "lvstop-alerts.yml").read_text()
    used = set(re.findall(r"\b((?:lvstop|node_ipvs)_[a-z_]+)", text))
    assert used
    assert used <= set(METRICS), used - set(METRICS)
    alerts = re.findall(r"alert: (\w+)", text)
    tested = set(re.findall(r"alertname: (\w+)", (CONTRIB / "lvstop-alerts.test.yml").read_text()))
    assert set(alerts) == tested
