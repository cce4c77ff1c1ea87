"""keepalived's check dump read section by section (issue 12), on the dumps keepalived 2.2.7
wrote in the lab (tests/data/keepalived/samples-oracle, corpus-oracle)."""

from __future__ import annotations

from pathlib import Path

from lvstop.sources.keepalived_state import dump_sections, parse_check_data

DATA = Path(__file__).resolve().parent.parent / "data" / "keepalived"
DUMPS = sorted(
    [*DATA.glob("samples-oracle/*_check.data"), *DATA.glob("corpus-oracle/*_check.data")]
)


def test_every_recorded_dump_cuts_into_its_sections() -> None:
    assert len(DUMPS) > 50
    for path in DUMPS:
        text = path.read_text(errors="replace")  # as read_runtime reads it
        sections = dump_sections(text)
        names = [name for name, _lines in sections]
        assert names[0] == "Global definitions", path.name
        assert "LVS Topology" in names, path.name
        # every line but the headers lands in exactly one section
        headers = sum(1 for line in text.splitlines() if "------<" in line)
        assert len(sections) == headers, path.name
        assert sum(len(lines) for _n, lines in sections) >= len(text.splitlines()) - 2 * headers
        # one VirtualServerState per "Virtual server" section, its real servers after it
        assert len(parse_check_data(text)) == names.count("Virtual server"), path.name


def test_real_servers_belong_to_the_virtual_server_before_them() -> None:
    text = (DATA / "samples-oracle" / "keepalived.conf.quorum.keepalived_check.data").read_text()
    sections = dump_sections(text)
    rs_sections = [n for n, _l in sections].count("Real server")
    (vs,) = parse_check_data(text)
    assert len(vs.real_servers) == rs_sections > 1


def test_quorum_is_read_as_printed() -> None:
    text = (DATA / "samples-oracle" / "keepalived.conf.quorum.keepalived_check.data").read_text()
    assert "quorum = 7, hysteresis = 2" in text
    (vs,) = parse_check_data(
        text.replace("quorum = 7, hysteresis = 2", "quorum = 0, hysteresis = 0")
    )
    assert (vs.quorum, vs.hysteresis) == (0, 0)
    (vs,) = parse_check_data(text)
    assert (vs.quorum, vs.hysteresis) == (7, 2)
