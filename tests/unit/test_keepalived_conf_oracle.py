"""lvstop's parser against keepalived 2.2.7 itself, for every sample config.

keepalived ran each sample inside the UML lab (tests/data/keepalived/record_oracle.sh) with the
interfaces the sample names, dumped what it parsed (signal DATA: keepalived.data,
keepalived_check.data; signal JSON: keepalived.json) and checked it with ``keepalived -t``.
Those recordings are the oracle: instances, VIPs, virtual servers, real servers, checkers and
the keywords keepalived called unknown must match what lvstop reads from the same file.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from lvstop.model.keepalived import Check, KeepalivedConfig
from lvstop.sources.keepalived_conf import parse_file
from lvstop.sources.keepalived_state import parse_check_data, parse_vrrp_data, parse_vrrp_json

DATA = Path(__file__).resolve().parent.parent / "data" / "keepalived"
ORACLE = DATA / "oracle"
# keepalived's sample configs, and lvstop's own config exercising every syntax feature
# ($definitions, ~SEQ/~LST, @id, include globs and braces): recorded as features.main.conf
SAMPLES = [*sorted((DATA / "samples").iterdir()), DATA / "features" / "main.conf"]


def oracle_name(sample: Path) -> str:
    return f"features.{sample.name}" if sample.parent.name == "features" else sample.name


def oracle(sample: Path, kind: str) -> str | None:
    path = ORACLE / f"{oracle_name(sample)}.{kind}"
    return path.read_text() if path.exists() else None


def parsed(sample: Path) -> KeepalivedConfig:
    # record_oracle.sh runs keepalived with -i high
    return parse_file(str(sample), config_id="high")


def test_oracle_recorded_every_sample():
    for sample in SAMPLES:
        assert (ORACLE / f"{oracle_name(sample)}.check.txt").exists(), sample.name
    assert (ORACLE / "signums.txt").read_text().split() == ["DATA=10", "JSON=36"]


@pytest.mark.parametrize("sample", SAMPLES, ids=oracle_name)
def test_vrrp_instances_match_keepalived(sample: Path) -> None:
    cfg = parsed(sample)
    text = oracle(sample, "keepalived.data")
    if text is None:
        assert not cfg.vrrp_instances
        return
    seen = {i.name: i for i in parse_vrrp_data(text)}
    ours = {i.name: i for i in cfg.vrrp_instances}
    assert set(seen) == set(ours)
    for name, inst in ours.items():
        ka = seen[name]
        assert ka.virtual_router_id == inst.virtual_router_id, name
        assert ka.priority == inst.priority, name
        assert ka.version == inst.version, name
        if not inst.use_vmac:
            assert ka.interface == inst.interface, name
        # keepalived drops duplicate VIPs (VI_1 of keepalived.conf.vrrp lists .18 twice)
        assert set(ka.vips) == {v.address for v in inst.virtual_ipaddress}, name
    json_text = oracle(sample, "keepalived.json")
    if json_text is not None:
        from_json = {i.name: i for i in parse_vrrp_json(json_text)}
        assert set(from_json) == set(seen)
        for name, ka in from_json.items():
            assert ka.virtual_router_id == seen[name].virtual_router_id
            assert set(ka.vips) == set(seen[name].vips)
            # (states may differ: the JSON dump was taken a second after the data dump)


def _checker_count(check: Check) -> int:
    # keepalived 2.2.7 runs an SMTP_CHECK host { } as a checker of its own, besides the
    # real server's own address
    return 1 + len(check.hosts)


@pytest.mark.parametrize("sample", SAMPLES, ids=oracle_name)
def test_virtual_servers_match_keepalived(sample: Path) -> None:
    cfg = parsed(sample)
    text = oracle(sample, "keepalived_check.data")
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


@pytest.mark.parametrize("sample", SAMPLES, ids=oracle_name)
def test_unknown_keywords_match_keepalived(sample: Path) -> None:
    cfg = parsed(sample)
    text = oracle(sample, "check.txt") or ""
    theirs = {(int(line), word) for line, word in _UNKNOWN.findall(text)}
    ours = {
        (w.line, m.group(1))
        for w in cfg.warnings
        if (m := re.match(r"unknown keyword '([^']+)'", w.message))
    }
    assert ours == theirs
    if "protocol specified for fwmark" in text:
        assert any("protocol is ignored for fwmark" in w.message for w in cfg.warnings)
