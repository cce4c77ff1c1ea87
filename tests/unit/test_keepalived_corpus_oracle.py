"""keepalived 2.2.7 itself as the oracle of lvstop's effective config, on a corpus of configs in
the shapes people deploy (tests/data/keepalived/corpus: each file's first line names the pattern
it reproduces: LVS DR/NAT/TUN with every checker type, Kubernetes API VIPs, sync groups,
unicast, vrrp_script, IPv6, fwmark, virtual_server_group, includes, old keywords, wrong cases,
and the mistakes keepalived corrects, drops or refuses).

tests/data/keepalived/record_corpus.sh ran keepalived on each in the UML lab and recorded its
``keepalived -t`` output, its log while loading and its DATA / JSON dumps (corpus-oracle/);
keepalived's own sample configs go through the same comparison in test_keepalived_conf_oracle.py;
tests/lab/test_keepalived_corpus_lab.py runs the same live. Every field lvstop reports that the
dumps show, and every warning keepalived prints, must agree: a difference fails
(the comparisons: tests/keepalived_oracle.py).
"""

from __future__ import annotations

from pathlib import Path

import keepalived_oracle as ko
import pytest

from lvstop.model.keepalived import KeepalivedConfig
from lvstop.sources.keepalived_conf import parse_file

DATA = Path(__file__).resolve().parent.parent / "data" / "keepalived"
CORPUS = sorted((DATA / "corpus").glob("*.conf"))
ORACLE = DATA / "corpus-oracle"
HOST = ko.recording_host(vlan=False)


def oracle(conf: Path, kind: str) -> str | None:
    path = ORACLE / f"{conf.stem}.{kind}"
    return path.read_text(errors="replace") if path.exists() else None


def parsed(conf: Path) -> KeepalivedConfig:
    # record_corpus.sh runs keepalived -i high, on the interfaces corpus_inside.sh makes
    return parse_file(str(conf), config_id="high", interfaces=HOST)


def test_corpus_is_large_and_labelled_and_recorded() -> None:
    assert len(CORPUS) >= 60
    for conf in CORPUS:
        assert conf.read_text().startswith("# pattern: "), conf.name
        assert (ORACLE / f"{conf.stem}.check.txt").exists(), conf.name
        assert (ORACLE / f"{conf.stem}.log").exists(), conf.name
    assert "Keepalived v2.2.7" in (ORACLE / "version.txt").read_text()


@pytest.mark.parametrize("conf", CORPUS, ids=lambda p: p.stem)
def test_errors_match_whether_keepalived_runs(conf: Path) -> None:
    assert ko.compare_errors(parsed(conf), oracle(conf, "log") or "") == []


@pytest.mark.parametrize("conf", CORPUS, ids=lambda p: p.stem)
def test_vrrp_instances_match_keepalived(conf: Path) -> None:
    if ko.refused(oracle(conf, "log") or ""):
        return
    assert ko.compare_vrrp(parsed(conf), oracle(conf, "keepalived.data")) == []


@pytest.mark.parametrize("conf", CORPUS, ids=lambda p: p.stem)
def test_virtual_servers_match_keepalived(conf: Path) -> None:
    if ko.refused(oracle(conf, "log") or ""):
        return
    assert ko.compare_lvs(parsed(conf), oracle(conf, "keepalived_check.data")) == []


@pytest.mark.parametrize("conf", CORPUS, ids=lambda p: p.stem)
def test_every_keepalived_warning_is_lvstops(conf: Path) -> None:
    assert ko.compare_warnings(parsed(conf), oracle(conf, "check.txt") or "") == []


@pytest.mark.parametrize("conf", CORPUS, ids=lambda p: p.stem)
def test_every_lvstop_warning_is_keepaliveds(conf: Path) -> None:
    assert ko.compare_warnings_back(parsed(conf), oracle(conf, "check.txt") or "") == []


@pytest.mark.parametrize("conf", CORPUS, ids=lambda p: p.stem)
def test_keepalived_log_warnings_match(conf: Path) -> None:
    assert ko.compare_log(parsed(conf), oracle(conf, "log") or "") == []
