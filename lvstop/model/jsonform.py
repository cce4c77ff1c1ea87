"""JSON from one field list per model: the dataclass's own fields.

A model class says how it differs from "every field, in declaration order, under its own name"
in one ``JsonForm`` (``JSON`` on the class) and inherits ``to_dict`` from ``JsonModel``:

- ``rename``: a field written under another key (``wall_time`` -> ``time``);
- ``convert``: a field whose JSON value is not ``plain(value)`` (``notify`` pairs -> an object);
- ``spread``: a field written as several keys (``where`` -> ``file``, ``line``), after the
  plain fields, never replacing a key already written;
- ``when``: a field written only when a test on the object holds (tunnel fields, empty lists);
- ``late``: fields written after the others (the order the older documents had);
- ``exclude``: a field left out, and why (a password, a lookup cache);
- ``head`` / ``tail``: keys that are not fields (``schema``, ``type``, derived values).

A new field therefore reaches the JSON on its own; ``tests/unit/test_json_golden.py`` fails
when a form names a field the class lacks, or a model class writes its JSON by hand, and the
golden documents under ``tests/data/golden`` fail when a key appears, vanishes or changes.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

Getter = Callable[[Any], Any]


def plain(value: Any) -> Any:
    """A field's value as JSON: scalars as they are, tuples as lists, mappings as objects,
    models by ``to_dict``; anything else (bytes: maybe a secret) needs a ``convert``."""
    if value is None or isinstance(value, (str, int, float)):
        return value
    if isinstance(value, (tuple, list)):
        return [plain(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    to_dict = getattr(value, "to_dict", None)
    if to_dict is None:
        raise TypeError(f"no JSON form for {type(value).__name__}: give its field a convert")
    return to_dict()


def where_keys(where: Any) -> dict[str, Any]:
    """A ``Where`` (file, line) as the two keys the documents carry."""
    return {"file": where.file, "line": where.line}


@dataclass(frozen=True, slots=True)
class JsonForm:
    """How one model class differs from "every field under its own name" (see the module)."""

    head: Mapping[str, Getter] = field(default_factory=dict)
    rename: Mapping[str, str] = field(default_factory=dict)
    convert: Mapping[str, Getter] = field(default_factory=dict)
    spread: Mapping[str, Callable[[Any], Mapping[str, Any]]] = field(default_factory=dict)
    when: Mapping[str, Callable[[Any], bool]] = field(default_factory=dict)
    late: tuple[str, ...] = ()
    #: field -> the reason it is not in the JSON
    exclude: Mapping[str, str] = field(default_factory=dict)
    tail: Mapping[str, Getter] = field(default_factory=dict)

    def named_fields(self) -> set[str]:
        """Every field name this form mentions (the golden test checks each exists)."""
        return {*self.rename, *self.convert, *self.spread, *self.when, *self.late, *self.exclude}


#: annotations whose values are JSON as they are (no conversion: the dump of 50,000 real
#: servers writes most of its fields this way); ``tuple[str, ...]`` becomes a list
_SCALARS = frozenset(
    f"{t}{none}" for t in ("int", "str", "float", "bool", "Family") for none in ("", " | None")
)
_STRINGS = frozenset({"tuple[str, ...]", "tuple[int, ...]", "tuple[float, float, float]"})


@dataclass(frozen=True, slots=True)
class _Plan:
    """A class's form made ready: its written fields in order, read with one ``attrgetter``
    and zipped with their keys; then the few that need it converted or dropped in place."""

    get: Callable[[Any], tuple[Any, ...]]
    keys: tuple[str, ...]
    #: (position in ``get``'s tuple, JSON key, convert) of the fields not written as they are
    convert: tuple[tuple[int, str, Getter], ...]
    #: (JSON key, when) of the fields written only when ``when(obj)`` holds
    when: tuple[tuple[str, Callable[[Any], bool]], ...]
    #: (field, expand, when) of the spread fields, written after the direct ones
    spread: tuple[tuple[str, Callable[[Any], Mapping[str, Any]], Callable[[Any], bool] | None], ...]
    #: every field as it is, nothing else: the JSON is ``dict(zip(keys, get(obj)))``
    fields_only: bool


_plans: dict[type, _Plan] = {}


def _convert(f: dataclasses.Field[Any], form: JsonForm) -> Getter | None:
    if f.name in form.convert:
        return form.convert[f.name]
    if f.type in _SCALARS:
        return None
    return list if f.type in _STRINGS else plain


def _plan(cls: type, form: JsonForm) -> _Plan:
    """Built once per class: plain fields in declaration order (``late`` ones last), then the
    spread ones."""
    plan = _plans.get(cls)
    if plan is not None:
        return plan
    written = [f for f in dataclasses.fields(cls) if f.name not in form.exclude]
    ordered = [f for f in written if f.name not in form.late]
    ordered += [f for name in form.late for f in written if f.name == name]
    direct = [f for f in ordered if f.name not in form.spread]
    names = [f.name for f in direct]

    def get(obj: Any) -> tuple[Any, ...]:
        return tuple(getattr(obj, name) for name in names)

    keys = tuple(form.rename.get(name, name) for name in names)
    converts = tuple(
        (i, keys[i], convert) for i, f in enumerate(direct) if (convert := _convert(f, form))
    )
    whens = tuple((keys[i], form.when[f.name]) for i, f in enumerate(direct) if f.name in form.when)
    spreads = tuple(
        (f.name, form.spread[f.name], form.when.get(f.name))
        for f in ordered
        if f.name in form.spread
    )
    plan = _Plan(
        operator.attrgetter(*names) if len(names) > 1 else get,
        keys,
        converts,
        whens,
        spreads,
        fields_only=not (form.head or converts or whens or spreads or form.tail),
    )
    _plans[cls] = plan
    return plan


def to_json(obj: Any, form: JsonForm) -> dict[str, Any]:
    """``obj`` (a model dataclass) as a JSON object, by ``form``."""
    plan = _plans.get(type(obj)) or _plan(type(obj), form)
    values = plan.get(obj)
    if plan.fields_only:
        return dict(zip(plan.keys, values, strict=True))
    out = {key: get(obj) for key, get in form.head.items()} if form.head else {}
    out.update(zip(plan.keys, values, strict=True))
    for i, key, convert in plan.convert:
        out[key] = convert(values[i])
    for key, write in plan.when:
        if not write(obj):
            del out[key]
    for name, expand, only in plan.spread:
        if only is None or only(obj):
            for key, value in expand(getattr(obj, name)).items():
                out.setdefault(key, value)
    for key, get in form.tail.items():
        out[key] = get(obj)
    return out


class JsonModel:
    """Mixin of the model dataclasses: ``to_dict`` from the class's ``JSON`` form."""

    __slots__ = ()
    JSON: ClassVar[JsonForm] = JsonForm()

    def to_dict(self) -> dict[str, Any]:
        return to_json(self, type(self).JSON)
