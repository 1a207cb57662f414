"""What ``encode`` says when a model holds what no DM message can: the path and the problem
of the first field whose value is not of its declared type (``header.meta.extra: a
list[MetaExtra], not None``).

The one idea: the encoders trust the model's types (checking every field first would cost
the hot path); when an encoder fails with anything but ``EncodeError``, this walk over the
dataclasses' annotations finds the field to blame, so every model, however broken, gives a
typed ``EncodeError`` (the same from both twins, since this code is shared).
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from typing import Any

from ..errors import EncodeError
from . import model

_HINTS: dict[type, dict[str, Any]] = {}
_MAX_WALK = 100_000


def _hints(cls: type) -> dict[str, Any]:
    found = _HINTS.get(cls)
    if found is None:
        found = {name: hint for name, hint in
                 typing.get_type_hints(cls, vars(model)).items()
                 if typing.get_origin(hint) is not typing.ClassVar}
        _HINTS[cls] = found
    return found


def _name(hint: Any) -> str:
    if isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("omadm_codec.messages.model.", "").replace("typing.", "")


def _show(value: Any) -> str:
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)
    return f"a {type(value).__name__}"


class _Walk:
    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.steps = 0

    def value(self, value: Any, hint: Any, path: str) -> str | None:
        """The problem with ``value`` at ``path`` against ``hint``, or None."""
        self.steps += 1
        if self.steps > _MAX_WALK:
            return None
        origin = typing.get_origin(hint)
        if origin is typing.Union or origin is types.UnionType:
            options = typing.get_args(hint)
            for option in options:
                if self.shallow(value, option):
                    return self.value(value, option, path)
            return f"{path}: {' or '.join(_name(o) for o in options)}, not {_show(value)}"
        if origin is list:
            if not isinstance(value, list):
                return f"{path}: a {_name(hint)}, not {_show(value)}"
            if id(value) in self.seen:
                return f"{path}: a list that contains itself"
            self.seen.add(id(value))
            (inner,) = typing.get_args(hint)
            for index, element in enumerate(value):
                problem = self.value(element, inner, f"{path}[{index}]")
                if problem is not None:
                    return problem
            return None
        if not self.shallow(value, hint):
            return f"{path}: {_name(hint)}, not {_show(value)}"
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return self.fields(value, path)
        return None

    @staticmethod
    def shallow(value: Any, hint: Any) -> bool:
        if hint is type(None):
            return value is None
        if typing.get_origin(hint) is list:
            return isinstance(value, list)
        if hint is int:
            return isinstance(value, int) and not isinstance(value, bool)
        if hint is typing.Any:
            return True
        if isinstance(hint, type):
            return isinstance(value, hint)
        return True  # a form this walk does not judge

    def fields(self, obj: Any, path: str) -> str | None:
        if id(obj) in self.seen:
            return f"{path}: an object that contains itself"
        self.seen.add(id(obj))
        for name, hint in _hints(type(obj)).items():
            try:
                value = getattr(obj, name)
            except AttributeError:
                return f"{path}.{name}: missing"
            problem = self.value(value, hint, f"{path}.{name}")
            if problem is not None:
                return problem
        return None


def model_problem(obj: Any, root: str = "msg") -> str | None:
    """The first field of ``obj`` (a ``Message`` or a command) whose value is not of its
    declared type, as ``path: expected, not got``; None when every field checks."""
    walk = _Walk()
    if isinstance(obj, model.Message):
        return walk.fields(obj, root)
    if isinstance(obj, enum.Enum) or not dataclasses.is_dataclass(obj):
        return f"{root}: a Message or a command, not {_show(obj)}"
    return walk.fields(obj, root)


def model_error(obj: Any, exc: BaseException) -> EncodeError:
    """The ``EncodeError`` for a model an encoder failed on with ``exc`` (not an
    ``EncodeError``): ``bad_type`` naming the field when one is of the wrong type, else
    ``bad_value`` with what the encoder said."""
    try:
        problem = model_problem(obj)
    except RecursionError:
        problem = "msg: nested too deep to check"
    if problem is not None:
        return EncodeError("bad_type", -1, problem)
    return EncodeError("bad_value", -1, f"the model cannot be encoded: "
                                        f"{type(exc).__name__}: {exc}")


__all__ = ["model_error", "model_problem"]
