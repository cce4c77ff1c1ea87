"""Every model with a ``from_dict`` reads back what its ``to_dict`` wrote (issue 12): a model
object made of arbitrary field values, written as JSON text and read again, is equal to itself.
Only what the documents cannot hold is held fixed: a real server's service key (the JSON nests
it in its service), tunnel fields without a tunnel type (not written), an advert's masked
password (written with ``show_auth``)."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import typing
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lvstop.model.host import HostStats, InterfaceRate, KeepalivedPids
from lvstop.model.ipvs import IpvsSnapshot, RealServer, Service, Stats, SyncDaemon, Timeouts
from lvstop.model.vrrp import (
    Advert,
    CaptureStats,
    RouterState,
    VridState,
    VrrpEvent,
    VrrpSnapshot,
)
from lvstop.track.events import LogEvent

#: modules whose models have a from_dict
MODULES = ("lvstop.model.ipvs", "lvstop.model.host", "lvstop.model.vrrp", "lvstop.track.events")

FLOATS = st.floats(allow_nan=False, allow_infinity=False)
ADDRESSES = st.ip_addresses().map(str)
#: the model strategies by class (filled below, nested models looked up here)
MODELS: dict[type, st.SearchStrategy[Any]] = {}


def values(hint: Any) -> st.SearchStrategy[Any]:
    """Arbitrary values of a field's annotation."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, type(int | None)):
        return st.one_of(*(values(a) for a in args))
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return st.lists(values(args[0]), max_size=2).map(tuple)
        return st.tuples(*(values(a) for a in args))
    if origin is typing.Literal:
        return st.sampled_from(args)
    simple: dict[Any, st.SearchStrategy[Any]] = {
        int: st.integers(),
        float: FLOATS,
        str: st.text(max_size=12),
        bool: st.booleans(),
        type(None): st.none(),
    }
    if hint in simple:
        return simple[hint]
    return st.deferred(lambda: MODELS[hint])


def model(cls: type, **fixed: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``cls`` with every field the documents hold drawn from its annotation (``fixed``:
    the fields drawn otherwise)."""
    hints = typing.get_type_hints(cls)
    exclude = cls.JSON.exclude  # type: ignore[attr-defined]
    drawn = {
        f.name: fixed.get(f.name, values(hints[f.name]))
        for f in dataclasses.fields(cls)
        if f.init and (f.name not in exclude or f.name in fixed)
    }
    return st.builds(cls, **drawn)


def _untunnelled(rs: RealServer) -> RealServer:
    # the tunnel fields are written only with a tunnel type
    if rs.tunnel_type is None:
        return dataclasses.replace(rs, tunnel_port=0, tunnel_flags=())
    return rs


def _keyed(svc: Service) -> Service:
    # a real server's service key is its service's (the JSON nests it there)
    return dataclasses.replace(
        svc,
        real_servers=tuple(dataclasses.replace(rs, service_key=svc.key) for rs in svc.real_servers),
    )


MODELS[Stats] = model(Stats)
MODELS[RealServer] = model(RealServer, address=ADDRESSES).map(_untunnelled)
MODELS[Service] = st.one_of(
    model(
        Service,
        protocol=st.sampled_from(["tcp", "udp", "sctp"]),
        address=ADDRESSES,
        port=st.integers(0, 65535),
        fwmark=st.none(),
    ),
    model(
        Service,
        protocol=st.just("fwmark"),
        address=st.none(),
        port=st.none(),
        fwmark=st.integers(0, 2**32 - 1),
    ),
).map(_keyed)
MODELS[Timeouts] = model(Timeouts)
MODELS[SyncDaemon] = model(SyncDaemon)
MODELS[IpvsSnapshot] = model(IpvsSnapshot)
MODELS[InterfaceRate] = model(InterfaceRate)
MODELS[KeepalivedPids] = model(KeepalivedPids)
MODELS[HostStats] = model(HostStats)
MODELS[Advert] = st.one_of(
    # a simple password is written as text (trailing NULs are padding), others as hex
    model(
        Advert,
        auth_type=st.just("simple"),
        auth_data=st.text(max_size=8).map(lambda t: t.rstrip("\x00").encode()),
    ),
    model(
        Advert,
        auth_type=st.one_of(st.none(), st.sampled_from(["none", "ah", "unknown(7)"])),
        auth_data=st.binary(max_size=8),
    ),
)
MODELS[VrrpEvent] = model(VrrpEvent)
MODELS[RouterState] = model(RouterState)
MODELS[VridState] = model(VridState)
MODELS[CaptureStats] = model(CaptureStats)
MODELS[VrrpSnapshot] = model(VrrpSnapshot)
MODELS[LogEvent] = model(LogEvent)


def readable_models() -> list[type]:
    found = []
    for name in MODULES:
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == name and "from_dict" in vars(cls):
                found.append(cls)
    return found


def test_every_model_with_from_dict_has_a_round_trip_here() -> None:
    assert set(readable_models()) == set(MODELS)
    assert len(MODELS) == 16


def _written(obj: Any) -> Any:
    doc = obj.to_dict(show_auth=True) if isinstance(obj, Advert) else obj.to_dict()
    return json.loads(json.dumps(doc))


@pytest.mark.parametrize("cls", list(MODELS), ids=lambda c: c.__name__)
def test_to_dict_then_from_dict_is_the_same_object(cls: type) -> None:
    @settings(max_examples=60, deadline=None)
    @given(MODELS[cls])
    def round_trip(obj: Any) -> None:
        assert cls.from_dict(_written(obj)) == obj  # type: ignore[attr-defined]

    round_trip()


def test_a_document_without_a_required_key_is_refused() -> None:
    with pytest.raises(KeyError, match="time"):
        VrrpSnapshot.from_dict({"vrids": []})
    with pytest.raises(KeyError, match="address"):
        RealServer.from_dict({"port": 80})


def test_older_documents_take_the_named_missing_values() -> None:
    router = RouterState.from_dict(
        {
            "src": "10.0.0.1",
            "priority": 100,
            "interval_ms": 1000,
            "version": 2,
            "first_seen": 1.0,
            "last_seen": 2.0,
        }
    )
    assert (router.addresses, router.adverts, router.rate, router.src_mac) == ((), 0, 0.0, None)
    data = {"protocol": "tcp", "address": "2001:db8::0:1", "port": 80, "family": "inet6"}
    svc = Service.from_dict(data)
    assert (svc.address, svc.persistence_mask) == ("2001:db8::1", 128)
    doc = IpvsSnapshot((svc,)).to_dict()
    del doc["services"][0]["stats"]  # a service without its stats: zero
    assert IpvsSnapshot.from_dict(doc).stats_of(svc.key) == Stats()
