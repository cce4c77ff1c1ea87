"""lvstop's parser against keepalived 2.2.7 itself, for every sample config keepalived ships.

The samples are read from the installed keepalived package (tests/keepalived_samples.py), never
a copy. ``SET=samples tests/data/keepalived/record_corpus.sh`` ran keepalived on each inside the
UML lab, with the interfaces the samples name (dummy eth0..eth3 and the VLAN eth0.1), and
recorded its ``keepalived -t`` output, its log while loading and its DATA / JSON dumps
(tests/data/keepalived/samples-oracle, with the sha256 of each sample recorded). These tests
replay them through the same full comparison as the corpus (tests/keepalived_oracle.py: errors,
instances, virtual servers, checkers, every -t and log warning in both directions), and keep the
older per-field checks (VIPs, interfaces, JSON dump, sorry servers, inhibit_on_failure, checker
counts, unknown keywords). A difference fails; nothing is skipped.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import keepalived_oracle as ko
import keepalived_samples as ks
import pytest

from lvstop.model.keepalived import Check, KeepalivedConfig
from lvstop.sources.keepalived_conf import parse_file
from lvstop.sources.keepalived_state import parse_check_data, parse_vrrp_data, parse_vrrp_json

ORACLE = ks.SAMPLES_ORACLE
NAMES = [*ks.sample_names(), "features.main.conf"]
#: the interfaces the recorder gave keepalived (a sample's instance on eth0.1 starts in FAULT:
#: the VLAN has no IPv4 address)
HOST = ko.recording_host(vlan=True)


def path_of(name: str) -> Path:
    path: Path = ks.FEATURES if name == "features.main.conf" else ks.sample(name)
    return path


def oracle(name: str, kind: str) -> str | None:
    path = ORACLE / f"{name}.{kind}"
    return path.read_text(errors="replace") if path.exists() else None


def parsed(name: str) -> KeepalivedConfig:
    # the recorder runs keepalived with -i high
    return parse_file(str(path_of(name)), config_id="high", interfaces=HOST)


def test_samples_are_installed_and_the_recorded_ones() -> None:
    assert len(ks.sample_names()) == 25, f"keepalived's samples in {ks.SAMPLES_DIR}"
    # a keepalived package with other samples needs a new recording (record_corpus.sh)
    assert ks.installed_sums() == ks.recorded_sums()
    for name in NAMES:
        assert (ORACLE / f"{name}.check.txt").exists(), name
        assert (ORACLE / f"{name}.log").exists(), name
    assert (ORACLE / "signums.txt").read_text().split() == ["DATA=10", "JSON=36"]
    assert "Keepalived v2.2.7" in (ORACLE / "version.txt").read_text()


# -- the full comparison, as for the corpus ------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_errors_match_whether_keepalived_runs(name: str) -> None:
    assert ko.compare_errors(parsed(name), oracle(name, "log") or "") == []


@pytest.mark.parametrize("name", NAMES)
def test_vrrp_instances_match_keepalived_fields(name: str) -> None:
    assert not ko.refused(oracle(name, "log") or "")
    assert ko.compare_vrrp(parsed(name), oracle(name, "keepalived.data")) == []


@pytest.mark.parametrize("name", NAMES)
def test_virtual_servers_match_keepalived_fields(name: str) -> None:
    assert ko.compare_lvs(parsed(name), oracle(name, "keepalived_check.data")) == []


@pytest.mark.parametrize("name", NAMES)
def test_every_keepalived_warning_is_lvstops(name: str) -> None:
    assert ko.compare_warnings(parsed(name), oracle(name, "check.txt") or "") == []


@pytest.mark.parametrize("name", NAMES)
def test_every_lvstop_warning_is_keepaliveds(name: str) -> None:
    assert ko.compare_warnings_back(parsed(name), oracle(name, "check.txt") or "") == []


@pytest.mark.parametrize("name", NAMES)
def test_keepalived_log_warnings_match(name: str) -> None:
    assert ko.compare_log(parsed(name), oracle(name, "log") or "") == []


# -- the older per-field checks ------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_vrrp_instances_match_keepalived(name: str) -> None:
    cfg = parsed(name)
    text = oracle(name, "keepalived.data")
    if text is None:
        assert not cfg.vrrp_instances
        return
    seen = {i.name: i for i in parse_vrrp_data(text)}
    ours = {i.name: i for i in cfg.vrrp_instances}
    assert set(seen) == set(ours)
    for inst_name, inst in ours.items():
        ka = seen[inst_name]
        assert ka.virtual_router_id == inst.virtual_router_id, inst_name
        assert ka.priority == inst.priority, inst_name
        assert ka.version == inst.version, inst_name
        if not inst.use_vmac:
            assert ka.interface == inst.interface, inst_name
        # keepalived drops duplicate VIPs (VI_1 of keepalived.conf.vrrp lists .18 twice)
        assert set(ka.vips) == {v.address for v in inst.virtual_ipaddress}, inst_name
    json_text = oracle(name, "keepalived.json")
    if json_text is not None:
        from_json = {i.name: i for i in parse_vrrp_json(json_text)}
        assert set(from_json) == set(seen)
        for inst_name, ka in from_json.items():
            assert ka.virtual_router_id == seen[inst_name].virtual_router_id
            assert set(ka.vips) == set(seen[inst_name].vips)
            # (states may differ: the JSON dump was taken after the data dump)


def _checker_count(check: Check) -> int:
    # keepalived 2.2.7 runs an SMTP_CHECK host { } as a checker of its own, besides the
    # SMTP_CHECK's own (lvstop's model holds the hosts keepalived runs beside it)
    return 1 + len(check.hosts)


@pytest.mark.parametrize("name", NAMES)
def test_virtual_servers_match_keepalived(name: str) -> None:
    cfg = parsed(name)
    text = oracle(name, "keepalived_check.data")
    if text is None:
        assert not cfg.virtual_servers
        return
    seen = parse_check_data(text)
    assert [vs.label for vs in seen] == [vs.label for vs in cfg.virtual_servers]
    for ka, vs in zip(seen, cfg.virtual_servers, strict=True):
        assert ka.lb_algo == vs.lb_algo
        assert ka.lb_kind == vs.lb_kind
        if vs.fwmark is None:
            assert ka.protocol == vs.protocol
        assert (ka.quorum, ka.hysteresis) == (vs.quorum, vs.hysteresis)
        if vs.sorry_server is None:
            assert ka.sorry_server is None
        else:
            assert ka.sorry_server is not None
            assert f"[{vs.sorry_server.address}]" in ka.sorry_server
            assert ka.sorry_server.endswith(f":{vs.sorry_server.port}")
        ours = [(rs.address, rs.port or 0, rs.weight) for rs in vs.real_servers]
        theirs = [(rs.address, rs.port, rs.weight) for rs in ka.real_servers]
        assert theirs == ours
        for ka_rs, rs in zip(ka.real_servers, vs.real_servers, strict=True):
            assert ka_rs.inhibit_on_failure == rs.inhibit_on_failure
            expected: Counter[str] = Counter()
            for check in rs.checks:
                expected[check.type] += _checker_count(check)
            got = Counter(c.type for c in ka_rs.checkers)
            # keepalived 2.2.7 does not list MISC_CHECK in its checker dump
            expected.pop("MISC_CHECK", None)
            assert got == expected, rs.address


_UNKNOWN = re.compile(r"Line (\d+)\) Unknown keyword '([^']+)'")


@pytest.mark.parametrize("name", NAMES)
def test_unknown_keywords_match_keepalived(name: str) -> None:
    cfg = parsed(name)
    text = oracle(name, "check.txt") or ""
    theirs = {(int(line), word) for line, word in _UNKNOWN.findall(text)}
    ours = {
        (w.line, m.group(1))
        for w in cfg.warnings
        if (m := re.match(r"unknown keyword '([^']+)'", w.message))
    }
    assert ours == theirs
    if "protocol specified for fwmark" in text:
        assert any("protocol is ignored for fwmark" in w.message for w in cfg.warnings)
