"""The one JSON mechanism of the models (lvstop/model/jsonform.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pytest

from lvstop.model.jsonform import JsonForm, JsonModel, where_keys
from lvstop.model.keepalived import Where

HERE = Where("/etc/x.conf", 7)


@dataclass(frozen=True, slots=True)
class Inner(JsonModel):
    name: str
    weight: int | None = None


@dataclass(frozen=True, slots=True)
class Outer(JsonModel):
    label: str
    password: str = ""
    later: str = "z"
    inners: tuple[Inner, ...] = ()
    tags: tuple[str, ...] = ()
    extra: dict[str, int] | None = None
    engine: str | None = None
    where: Where = HERE
    wall: float = 0.0

    JSON: ClassVar[JsonForm] = JsonForm(
        head={"type": lambda o: "outer"},
        rename={"wall": "time"},
        spread={"where": where_keys},
        when={"engine": lambda o: o.engine is not None},
        late=("later",),
        exclude={"password": "a secret: never printed"},
        tail={"count": lambda o: len(o.inners)},
    )


def test_every_field_in_order_save_what_the_form_says() -> None:
    doc = Outer("a", "s3cret", inners=(Inner("i", 2),), tags=("x",), extra={"k": 1}).to_dict()
    assert list(doc) == [
        "type",
        "label",
        "inners",
        "tags",
        "extra",
        "time",
        "later",
        "file",
        "line",
        "count",
    ]
    assert doc == {
        "type": "outer",
        "label": "a",
        "inners": [{"name": "i", "weight": 2}],
        "tags": ["x"],
        "extra": {"k": 1},
        "time": 0.0,
        "later": "z",
        "file": "/etc/x.conf",
        "line": 7,
        "count": 1,
    }
    assert "s3cret" not in str(doc)
    assert Outer("a", engine="sip").to_dict()["engine"] == "sip"


def test_a_value_without_a_json_form_is_refused_not_guessed() -> None:
    @dataclass(frozen=True, slots=True)
    class Raw(JsonModel):
        data: bytes

    with pytest.raises(TypeError, match="no JSON form for bytes"):
        Raw(b"\x00").to_dict()
