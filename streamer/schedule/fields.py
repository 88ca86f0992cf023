"""What the checker knows of the model: each field's name, whether it is required, and how its
YAML value is read, all taken from the pydantic model (so a new field is declared once)."""

from __future__ import annotations

import types
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from functools import cache
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from streamer.schedule.model import Reading


class Kind(Enum):
    """How a value is read: a text field's ``Reading``, else what its type says."""

    ID = "id"
    REF = "ref"
    LANGUAGE = "language"
    URL = "url"
    ZONE = "zone"
    TEXT = "text"
    TITLE = "title"
    TIME = "time"
    DATE = "date"
    FLAG = "flag"
    ITEMS = "items"
    MODEL = "model"


_BY_READING = {
    Reading.ID: Kind.ID,
    Reading.REF: Kind.REF,
    Reading.LANGUAGE: Kind.LANGUAGE,
    Reading.URL: Kind.URL,
    Reading.ZONE: Kind.ZONE,
}


@dataclass(frozen=True)
class Spec:
    name: str
    kind: Kind
    required: bool
    model: type[BaseModel] | None = None  # ITEMS and MODEL: the model of an item
    choices: tuple[str, ...] = ()  # TEXT from a string enum: the values allowed


@dataclass(frozen=True)
class Specs:
    fields: tuple[Spec, ...]
    known: tuple[str, ...]
    required: tuple[str, ...]
    ordered: tuple[Spec, ...]
    """The order of reading: the zone before times, the language before a title keyed by it."""


@cache
def specs(model: type[BaseModel]) -> Specs:
    """The fields of ``model`` as the checker reads them (excluded fields are not YAML keys)."""
    out = []
    for name, info in model.model_fields.items():
        if info.exclude:
            continue
        kind, item = _kind(info.annotation, tuple(info.metadata))
        enum = info.annotation
        choices = (
            tuple(str(v.value) for v in enum)
            if isinstance(enum, type) and issubclass(enum, Enum) and issubclass(enum, str)
            else ()
        )
        out.append(Spec(name, kind, info.is_required(), item, choices))
    first = [f for f in out if f.kind in (Kind.ZONE, Kind.LANGUAGE)]
    return Specs(
        fields=tuple(out),
        known=tuple(f.name for f in out),
        required=tuple(f.name for f in out if f.required),
        ordered=(*first, *(f for f in out if f not in first)),
    )


def _kind(annotation: Any, metadata: tuple[Any, ...]) -> tuple[Kind, type[BaseModel] | None]:
    for meta in metadata:
        if isinstance(meta, Reading):
            return _BY_READING[meta], None
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *extra = get_args(annotation)
        return _kind(base, (*metadata, *extra))
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _kind(args[0], metadata)
    if origin is list:
        (item,) = get_args(annotation)
        if isinstance(item, type) and issubclass(item, BaseModel):
            return Kind.ITEMS, item
    if origin is dict:
        return Kind.TITLE, None
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return Kind.MODEL, annotation
        for base, kind in ((bool, Kind.FLAG), (datetime, Kind.TIME), (date, Kind.DATE)):
            if issubclass(annotation, base):
                return kind, None
        if issubclass(annotation, str):
            return Kind.TEXT, None
    raise TypeError(f"the schedule checker cannot read a field of type {annotation!r}")
