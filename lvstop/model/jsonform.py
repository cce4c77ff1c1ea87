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

``from_json`` reads a document back by the same field list (a model's ``from_dict``): each
field from its key (renames applied), converted by its annotation (``int``, ``float``, ``str``,
``bool``, ``X | None``, ``tuple[X, ...]``, a model class by its ``from_dict``); a key absent (or
null) takes the field's default, None where the field may be None, else:

- ``missing``: the value of a field without a default that older documents may lack;
- ``read``: a field whose value is not its key's (an address normalised, a password restored
  from ``auth``): a function of the whole document.

Any other field without a default must be present (``KeyError``).

A new field therefore reaches the JSON on its own; ``tests/unit/test_json_golden.py`` fails
when a form names a field the class lacks, or a model class writes its JSON by hand, and the
golden documents under ``tests/data/golden`` fail when a key appears, vanishes or changes.
"""

from __future__ import annotations

import dataclasses
import operator
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeVar

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
    #: field -> its value when a document lacks its key (a field without a default)
    missing: Mapping[str, Any] = field(default_factory=dict)
    #: field -> its value read from the whole document (``from_json``)
    read: Mapping[str, Callable[[Mapping[str, Any]], Any]] = field(default_factory=dict)

    def named_fields(self) -> set[str]:
        """Every field name this form mentions (the golden test checks each exists)."""
        return {
            *self.rename,
            *self.convert,
            *self.spread,
            *self.when,
            *self.late,
            *self.exclude,
            *self.missing,
            *self.read,
        }


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


# -- reading back -----------------------------------------------------------------------------

M = TypeVar("M")
Reader = Callable[[Any], Any]
#: what an absent (or null) key means: the field's default / a KeyError
_DEFAULT = object()
_REQUIRED = object()


def _tuple_of(item: Reader) -> Reader:
    return lambda value: tuple(item(x) for x in value)


def _fixed_tuple(items: list[Reader | None]) -> Reader:
    return lambda value: tuple(
        x if read is None else read(x) for read, x in zip(items, value, strict=True)
    )


def _reader(hint: Any) -> tuple[Reader | None, bool]:
    """(how a JSON value becomes the field's value, None: as it is; whether None is a value)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        rest = [a for a in args if a is not type(None)]
        return (_reader(rest[0])[0] if len(rest) == 1 else None), type(None) in args
    if hint in (int, float, str, bool):
        return hint, False
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            item = _reader(args[0])[0]
            return (tuple if item is None else _tuple_of(item)), False
        return _fixed_tuple([_reader(a)[0] for a in args]), False
    if origin is Literal:
        return None, False
    from_dict = getattr(hint, "from_dict", None)
    if from_dict is not None:
        return from_dict, False
    raise TypeError(f"no JSON reading for {hint!r}: give the field a read")


@dataclass(frozen=True, slots=True)
class _ReadStep:
    name: str
    key: str
    #: the JSON value -> the field's (None: as it is)
    convert: Reader | None
    #: the field's value when the key is absent or null: _DEFAULT, _REQUIRED or a value
    missing: Any
    #: the field's value from the whole document (``JsonForm.read``)
    read: Callable[[Mapping[str, Any]], Any] | None


_read_plans: dict[type, tuple[_ReadStep, ...]] = {}


def _read_step(f: dataclasses.Field[Any], hint: Any, form: JsonForm) -> _ReadStep:
    read = form.read.get(f.name)
    convert, optional = (None, False) if read is not None else _reader(hint)
    if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING:
        missing: Any = _DEFAULT
    elif f.name in form.missing:
        missing = form.missing[f.name]
    else:
        missing = None if optional else _REQUIRED
    return _ReadStep(f.name, form.rename.get(f.name, f.name), convert, missing, read)


def _read_plan(cls: type, form: JsonForm) -> tuple[_ReadStep, ...]:
    """Built once per class: the fields a document gives, in declaration order."""
    hints = typing.get_type_hints(cls)
    plan = tuple(
        _read_step(f, hints[f.name], form)
        for f in dataclasses.fields(cls)
        if f.init and (f.name not in form.exclude or f.name in form.read)
    )
    _read_plans[cls] = plan
    return plan


def from_json(cls: type[M], data: Mapping[str, Any], **given: Any) -> M:
    """A model from its JSON document, by its class's form (see the module); ``given`` are
    values of fields the document does not hold (a real server's service key)."""
    form: JsonForm = cls.JSON  # type: ignore[attr-defined]
    plan = _read_plans.get(cls) or _read_plan(cls, form)
    values: dict[str, Any] = {}
    for step in plan:
        if step.read is not None:
            values[step.name] = step.read(data)
            continue
        value = data.get(step.key)
        if value is not None:
            values[step.name] = value if step.convert is None else step.convert(value)
        elif step.missing is _REQUIRED:
            raise KeyError(step.key)
        elif step.missing is not _DEFAULT:
            values[step.name] = step.missing
    values.update(given)
    return cls(**values)
