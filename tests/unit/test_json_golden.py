"""The JSON contracts, held two ways (issue 12).

1. Every field of every model dataclass reaches the JSON (under its name, a rename, or spread
   into several keys), or its class's form excludes it with a reason; a class that writes its
   JSON by hand, or a form naming a field its class lacks, fails here.
2. ``lvstop keepalived --json``, ``lvstop dump --json`` and ``lvstop vrrp --json`` on fixed
   inputs (recorded data under tests/data) give the documents under tests/data/golden: a key
   that appears, vanishes or is renamed fails until the golden file is regenerated (and the
   README's "JSON outputs" updated). Regenerate with
   ``LVSTOP_GOLDEN_UPDATE=1 .venv/bin/python -m pytest tests/unit/test_json_golden.py``.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import io
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lvstop.cli import main
from lvstop.model.jsonform import JsonModel

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))
from ipvs_record import Replayer  # noqa: E402

DATA = TESTS / "data"
GOLDEN = DATA / "golden"
LAB = DATA / "keepalived" / "lab" / "rs1-inhibited"
UPDATE = os.environ.get("LVSTOP_GOLDEN_UPDATE") == "1"

#: modules whose dataclasses are written as JSON
JSON_MODULES = (
    "lvstop.model.ipvs",
    "lvstop.model.vrrp",
    "lvstop.model.keepalived",
    "lvstop.model.host",
    "lvstop.track.drift",
    "lvstop.track.events",
    "lvstop.doctor",
)
#: dataclasses of those modules that are no JSON object of their own, and why
NOT_OBJECTS = {
    "Where": "always spread into its owner's file / line keys",
    "VirtualIp": "written as its ADDR/PREFIX (virtual_ipaddress is a list of strings since /1)",
    "HostInterface": "an input of the parser (this host's interfaces), never in a document",
}
#: classes that keep a to_dict of their own, built on the form, and why
OWN_TO_DICT = {"Advert": "adds auth: the password masked unless show_auth"}


def model_classes() -> Iterator[type]:
    for name in JSON_MODULES:
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == name and dataclasses.is_dataclass(cls):
                yield cls


def test_every_field_is_written_or_excluded_with_a_reason() -> None:
    seen: list[str] = []
    for cls in model_classes():
        if cls.__name__ in NOT_OBJECTS:
            assert not issubclass(cls, JsonModel), cls
            continue
        assert issubclass(cls, JsonModel), f"{cls.__name__}: JSON by hand (use JsonModel)"
        if cls.__name__ not in OWN_TO_DICT:
            assert cls.to_dict is JsonModel.to_dict, f"{cls.__name__} overrides to_dict"
        form = cls.JSON
        assert dataclasses.is_dataclass(cls)
        names = {f.name for f in dataclasses.fields(cls)}
        assert form.named_fields() <= names, (cls.__name__, form.named_fields() - names)
        for name, reason in form.exclude.items():
            assert len(reason) > 10, (cls.__name__, name)
        seen.append(cls.__name__)
    assert len(seen) > 30  # the modules above were found


def run_cli(*argv: str) -> str:
    out = io.StringIO()
    real = sys.stdout
    sys.stdout = out
    try:
        assert main(list(argv)) == 0
    finally:
        sys.stdout = real
    return out.getvalue()


def keepalived_document() -> Any:
    """A config that sets every field lvstop models; paths relative to tests/data."""
    text = run_cli(
        "keepalived",
        "--config",
        str(GOLDEN / "keepalived.conf"),
        "--config-id",
        "golden",
        "--json",
        "--no-kernel",
        "--no-keepalived-state",
        "--no-version",
    )
    return json.loads(text.replace(str(DATA), "$DATA"))


def keepalived_runtime_document() -> Any:
    """The lab's rs1-inhibited scene: config, keepalived's recorded dumps, the kernel table
    and the drift verdicts, as ``lvstop keepalived --json`` puts them together."""
    from lvstop.commands.keepalived import to_document
    from lvstop.model.ipvs import IpvsSnapshot
    from lvstop.model.keepalived import (
        DumpFile,
        KeepalivedProcess,
        KeepalivedRuntime,
        KeepalivedVersion,
    )
    from lvstop.sources.keepalived_conf import parse_file
    from lvstop.sources.keepalived_state import parse_check_data, parse_vrrp_data
    from lvstop.track.drift import compute_drift

    node = (LAB / "node").read_text().strip()
    config = parse_file(str(LAB / "keepalived.conf"), config_id=node)
    ipvs = IpvsSnapshot.from_dict(json.loads((LAB / "ipvs.json").read_text()))
    parent = KeepalivedProcess(
        pid=100,
        ppid=1,
        role="parent",
        started=1_700_000_000.0,
        cmdline=("/usr/sbin/keepalived", "-n", "-f", str(LAB / "keepalived.conf")),
        config_path=str(LAB / "keepalived.conf"),
        netns="net:[4026531840]",
        netns_name="d1",
    )
    runtime = KeepalivedRuntime(
        processes=(parent, dataclasses.replace(parent, pid=101, ppid=100, role="checker")),
        taken_at=1_700_000_100.0,
        config_path=str(LAB / "keepalived.conf"),
        instances=parse_vrrp_data((LAB / "keepalived.data").read_text()),
        virtual_servers=parse_check_data((LAB / "keepalived_check.data").read_text()),
        dumps=(
            DumpFile("data", "/tmp/keepalived.data", "fresh", 1_700_000_099.0),
            DumpFile("json", "/tmp/keepalived.json", "missing", None, "no JSON support"),
        ),
        signal_numbers=(("DATA", 10), ("JSON", 36)),
        problems=("one line for people",),
    )
    drift = compute_drift(config, ipvs, runtime, {("inet", 51): "10.0.5.90"}, ("10.0.5.90",))
    doc = to_document(
        {
            "config": config,
            "runtime": runtime,
            "ipvs": ipvs,
            "ipvs_error": None,
            "drift": drift,
            "ignored": [],
            "version": KeepalivedVersion("/usr/sbin/keepalived", "2.2.7"),
        }
    )
    return json.loads(json.dumps(doc).replace(str(DATA), "$DATA"))


def dump_document(monkeypatch: pytest.MonkeyPatch) -> Any:
    """``lvstop dump --json`` of a lab table with tunnels, a persistence engine and a sync
    daemon, read from its recorded netlink replies (the read's clocks zeroed)."""
    from lvstop.sources import ipvs

    recorded = json.loads((DATA / "ipvs" / "table-seed1.json").read_text())
    real = ipvs.IpvsReader

    def replayed(*_args: Any, **kwargs: Any) -> ipvs.IpvsReader:
        return real(Replayer(recorded["exchanges"]), **kwargs)

    monkeypatch.setattr(ipvs, "IpvsReader", replayed)
    doc = json.loads(run_cli("dump", "--json"))
    doc["taken_at"] = doc["time"] = 0.0
    return doc


def conns_document(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """``lvstop dump --json --conns`` / ``--conn-counts``: the connection lists, of the
    /proc/net/ip_vs_conn the lab recorded (IPv4 and IPv6)."""
    from lvstop.sources import conns

    table = tmp_path / "ip_vs_conn"
    table.write_text(json.loads((DATA / "ipvs" / "conns-v4-v6.json").read_text())["ip_vs_conn"])
    read_conns, read_counts = conns.read_conns, conns.read_conn_counts
    monkeypatch.setattr(conns, "read_conns", lambda progress: read_conns(str(table), progress))
    monkeypatch.setattr(
        conns, "read_conn_counts", lambda progress: read_counts(str(table), progress)
    )
    dump_document(monkeypatch)  # the recorded table as the service dump
    return {
        "connections": json.loads(run_cli("dump", "--json", "--conns"))["connections"],
        "connection_counts": json.loads(run_cli("dump", "--json", "--conn-counts"))[
            "connection_counts"
        ],
    }


def vrrp_documents() -> Any:
    """``lvstop vrrp --json`` of a lab capture: adverts, events and summaries."""
    pcap = DATA / "vrrp" / "lab_vrrp_cut_split_brain_and_cleared.pcap"
    return [
        json.loads(line) for line in run_cli("vrrp", "--json", "--pcap", str(pcap)).splitlines()
    ]


@pytest.mark.parametrize(
    "name",
    ["keepalived.json", "keepalived-runtime.json", "dump.json", "dump-conns.json", "vrrp.jsonl"],
)
def test_golden_documents(name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    got = {
        "keepalived.json": keepalived_document,
        "keepalived-runtime.json": keepalived_runtime_document,
        "dump.json": lambda: dump_document(monkeypatch),
        "dump-conns.json": lambda: conns_document(monkeypatch, tmp_path),
        "vrrp.jsonl": vrrp_documents,
    }[name]()
    path = GOLDEN / name
    if UPDATE:
        if name.endswith(".jsonl"):
            path.write_text("".join(json.dumps(d) + "\n" for d in got))
        else:
            path.write_text(json.dumps(got, indent=1) + "\n")
    text = path.read_text()
    want = (
        [json.loads(line) for line in text.splitlines()]
        if name.endswith(".jsonl")
        else json.loads(text)
    )
    assert got == want, f"{name} changed: regenerate it (see this module) and say so in README"


def objects(value: Any) -> Iterator[Any]:
    """Every dataclass instance inside ``value``."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        yield value
        for f in dataclasses.fields(value):
            yield from objects(getattr(value, f.name))
    elif isinstance(value, tuple | list):
        for item in value:
            yield from objects(item)


def test_every_field_of_the_recorded_objects_has_its_key() -> None:
    """On real objects (the lab scene above, a lab table, a VRRP capture's snapshot): each
    field not excluded is a key of its object's JSON (or its spread keys are)."""
    from lvstop.model.ipvs import IpvsSnapshot
    from lvstop.model.vrrp import Advert, VrrpSnapshot
    from lvstop.sources.keepalived_conf import parse_file

    roots: list[Any] = [
        parse_file(str(GOLDEN / "keepalived.conf"), config_id="golden"),
        IpvsSnapshot.from_dict(
            json.loads((DATA / "ipvs" / "table-seed1.json").read_text())["snapshot"]
        ),
    ]
    for line in (DATA / "ui" / "split.vrrp.jsonl").read_text().splitlines():
        roots.append(VrrpSnapshot.from_dict(json.loads(line)))
    for line in (GOLDEN / "vrrp.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record["type"] == "advert":
            roots.append(Advert.from_dict(record))
    checked: set[str] = set()
    for obj in (o for root in roots for o in objects(root)):
        cls = type(obj)
        if cls.__name__ in NOT_OBJECTS:
            continue
        form = cls.JSON
        doc = obj.to_dict()
        for f in dataclasses.fields(obj):
            if f.name in form.exclude or (f.name in form.when and not form.when[f.name](obj)):
                continue
            if f.name in form.spread:
                keys = set(form.spread[f.name](getattr(obj, f.name)))
            else:
                keys = {form.rename.get(f.name, f.name)}
            assert keys <= set(doc), (cls.__name__, f.name)
        checked.add(cls.__name__)
    assert {
        "VirtualServer",
        "SorryServer",
        "Check",
        "RealServer",
        "Service",
        "Advert",
        "VridState",
        "VrrpEvent",
    } <= checked
