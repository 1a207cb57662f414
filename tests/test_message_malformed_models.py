"""``encode`` of a model holding anything (a wrong type in any field, at any depth, in either
format, on either twin) returns bytes or raises ``EncodeError``: never ``TypeError`` or another
untyped exception; and both twins give the same verdict (the same bytes, or the same reason).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from conftest import Backend
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_message_hypothesis import messages

from omadm_codec import messages as messages_module
from omadm_codec.errors import EncodeError
from omadm_codec.messages import command_size, encode, encoded_size
from omadm_codec.messages import model as m


@contextmanager
def using(backend: Backend) -> Iterator[None]:
    """Route the public ``encode`` to ``backend``'s message-codec twin."""
    saved = messages_module._codec
    messages_module._codec = backend.modules["messages._fast"]
    try:
        yield
    finally:
        messages_module._codec = saved


class _Odd:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


BAD = [None, 0, 1, -1, 2**70, True, 1.5, float("nan"), "", " ", "x", "\ud800", "\x00", b"x",
       bytearray(b"x"), [], [None], [1], ["x"], [b"x"], {}, (), object(), _Odd(),
       m.Item(), m.Meta(), m.Target("./a"), m.Get("1"), m.DataHint.CDATA,
       m.XmlDocument("<a/>"), m.XmlDocument("not xml")]


def _holders(msg: m.Message) -> list[Any]:
    """Every dataclass object in ``msg`` (the message, header, commands at any depth, items,
    metas, targets...)."""
    found: list[Any] = []
    stack: list[Any] = [msg]
    while stack:
        obj = stack.pop()
        if not hasattr(obj, "__dataclass_fields__") or isinstance(obj, type):
            continue
        found.append(obj)
        for name in (f.name for f in dataclasses.fields(obj)):
            value = getattr(obj, name, None)
            if isinstance(value, list):
                stack.extend(value)
            else:
                stack.append(value)
    return found


def _break(msg: m.Message, draw: st.DrawFn) -> m.Message:
    msg = copy.deepcopy(msg)
    holders = _holders(msg)
    for _ in range(draw(st.integers(1, 3))):
        holder = draw(st.sampled_from(holders))
        names = [f.name for f in dataclasses.fields(holder)]
        if not names:
            continue
        name = draw(st.sampled_from(names))
        value = draw(st.sampled_from(BAD))
        current = getattr(holder, name, None)
        if isinstance(current, list) and current and draw(st.booleans()):
            current[draw(st.integers(0, len(current) - 1))] = value  # an element, not the list
        else:
            object.__setattr__(holder, name, copy.copy(value))
    return msg


@st.composite
def broken_messages(draw: st.DrawFn) -> m.Message:
    return _break(draw(messages(embedded=True, versions=("1.1", "1.2"))), draw)


def outcome(fn: Any, *args: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(*args)
    except EncodeError as exc:
        assert isinstance(exc.reason, str) and exc.reason
        return "error", exc.reason


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(msg=broken_messages())
def test_any_model_gives_bytes_or_encode_error(backend: Backend, msg: m.Message) -> None:
    with using(backend):
        for fmt in ("xml", "wbxml"):
            kind, value = outcome(encode, msg, fmt)
            if kind == "ok":
                assert isinstance(value, bytes)
                assert encoded_size(msg, fmt) == len(value)
        for command in msg.commands if isinstance(msg.commands, list) else []:
            kind, value = outcome(command_size, command)
            assert kind == "error" or isinstance(value, int)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(msg=broken_messages())
def test_both_twins_give_the_same_verdict(both_backends: tuple[Backend, Backend],
                                          msg: m.Message) -> None:
    compiled, pure = both_backends
    for fmt in ("xml", "wbxml"):
        with using(compiled):
            got_compiled = outcome(encode, msg, fmt)
        with using(pure):
            got_pure = outcome(encode, msg, fmt)
        assert got_compiled == got_pure, fmt


@pytest.mark.parametrize("fmt", ["xml", "wbxml"])
def test_meta_extra_none_is_a_typed_error_or_nothing_extra(backend: Backend, fmt: str) -> None:
    """The case the issue reported: ``Meta(extra=None)`` raised ``TypeError`` from XML."""
    msg = m.Message(m.SyncHdr("1", "1", m.Target("t"), m.Source("s"),
                              meta=m.Meta(extra=None)))  # type: ignore[arg-type]
    with using(backend):
        kind, value = outcome(encode, msg, fmt)
    if kind == "error":
        assert value == "bad_type"
    else:
        assert isinstance(value, bytes)


def test_bad_type_names_the_field(backend: Backend) -> None:
    msg = m.Message(m.SyncHdr("1", "1", m.Target("t"), m.Source("s"),
                              meta=m.Meta(extra=None)))  # type: ignore[arg-type]
    with using(backend), pytest.raises(EncodeError) as info:
        encode(msg, "xml")
    assert info.value.reason == "bad_type"
    assert info.value.detail == "msg.header.meta.extra: a list[MetaExtra], not None"
