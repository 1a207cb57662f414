"""The twins' encoders against the reference writer (``messages._writer``): the same bytes for
every model, and for every model that cannot be written the same ``EncodeError`` reason.

The one idea: the compiled writer is the reference writer statement for statement, so a
model broken in any one field must fail in both at the same check; models come from the
corpus, from the hypothesis strategies of ``test_message_hypothesis``, and from breaking one
field of those.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from conftest import CORPUS_XML, Backend, corpus_id
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_message_hypothesis import messages

from omadm_codec import decode
from omadm_codec.errors import EncodeError
from omadm_codec.messages import model as m
from omadm_codec.messages._writer import write_xml
from omadm_codec.wbxml import xml_to_wbxml


def reference_wbxml(msg: m.Message) -> bytes:
    return bytes(xml_to_wbxml(write_xml(msg, for_wbxml=True), keep_whitespace=True))


def outcome(fn: Any, msg: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(msg)
    except EncodeError as exc:
        return "error", (exc.reason, exc.offset)


@pytest.mark.parametrize("path", CORPUS_XML, ids=corpus_id)
def test_corpus_encodes_to_the_reference_bytes(backend: Backend, path: Path) -> None:
    msg = decode(path.read_bytes())
    assert backend.encode_xml(msg) == write_xml(msg)
    assert backend.encode_wbxml(msg) == reference_wbxml(msg)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(msg=messages(embedded=True, versions=("1.1", "1.2")))
def test_generated_messages_encode_to_the_reference_bytes(
        both_backends: tuple[Backend, Backend], msg: m.Message) -> None:
    compiled, pure = both_backends
    expected = write_xml(msg)
    assert compiled.encode_xml(msg) == expected == pure.encode_xml(msg)
    # (The WBXML code pages lack some elements, e.g. MetInf 1.1 FieldLevel: an error alike.)
    expected_wbxml = outcome(reference_wbxml, msg)
    assert outcome(compiled.encode_wbxml, msg) == expected_wbxml
    assert outcome(pure.encode_wbxml, msg) == expected_wbxml


_BAD_VALUES = [1, None, "", " x", "x ", "a b", "\ud800", "\x01", "\ufffe", "<&>\r", "é",
               "x" * 300, -1, 2**40, 1.5, b"x", "\n", "DM/9", "1.3", "SyncML/1.2"]


def _break(msg: m.Message, rnd: Any) -> m.Message:
    """A copy of ``msg`` with one field (anywhere in it) set to a random value."""
    msg = copy.deepcopy(msg)
    holders: list[Any] = [msg, msg.header, msg.header.target, msg.header.source]
    for holder in list(holders):
        for name in getattr(holder, "__slots__", ()):
            value = getattr(holder, name, None)
            if hasattr(value, "__slots__"):
                holders.append(value)
    for command in msg.iter_commands():
        holders.append(command)
        for item in getattr(command, "items", []):
            holders.append(item)
            holders.extend(v for v in (item.meta, item.target, item.source) if v is not None)
        meta = getattr(command, "meta", None)
        if meta is not None:
            holders.append(meta)
    holder = rnd.choice(holders)
    names = [n for n in getattr(holder, "__slots__", ()) if n not in ("quirks", "data_hint")]
    if names:
        object.__setattr__(holder, rnd.choice(names), rnd.choice(_BAD_VALUES))
    return msg


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(msg=messages(embedded=True, versions=("1.2",)), rnd=st.randoms(use_true_random=False))
def test_broken_models_fail_alike(both_backends: tuple[Backend, Backend], msg: m.Message,
                                  rnd: Any) -> None:
    broken = _break(msg, rnd)
    compiled, pure = both_backends
    try:
        expected = outcome(write_xml, broken)
    except Exception as exc:  # the reference itself crashes (e.g. a list set to an int)
        with pytest.raises(type(exc)):
            compiled.encode_xml(broken)
        return
    assert outcome(compiled.encode_xml, broken) == expected
    assert outcome(pure.encode_xml, broken) == expected
