"""``omadm_codec._json``: orjson and the standard library write the same JSON values and each
reads what the other wrote (workers with and without orjson share one store); what orjson
cannot write as the standard library does goes the standard way."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omadm_codec import _json

orjson = pytest.importorskip("orjson", reason="orjson is not installed (the http extra)")

BACKENDS = ["orjson", "stdlib"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "stdlib":
        monkeypatch.setattr(_json, "orjson", None)
    yield request.param


documents = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20)


@given(value=documents)
def test_each_reads_what_either_wrote(value: Any) -> None:
    fields = {"x": value}
    written = {"orjson": (_json.dumps(value), _json.dumps_sorted(fields, floats_in=fields))}
    saved = _json.orjson
    _json.orjson = None  # type: ignore[assignment]
    try:
        written["stdlib"] = (_json.dumps(value), _json.dumps_sorted(fields, floats_in=fields))
        read_by_stdlib = [(_json.loads(a), _json.loads(b)) for a, b in written.values()]
    finally:
        _json.orjson = saved
    read_by_orjson = [(_json.loads(a), _json.loads(b)) for a, b in written.values()]
    for compact, sorted_ in read_by_stdlib + read_by_orjson:
        assert compact == value
        assert sorted_ == fields


def test_the_standard_library_writes_what_orjson_would_not(backend: str) -> None:
    fields: dict[str, Any] = {"idle_timeout": math.inf, "n": 1}
    assert b"Infinity" in _json.dumps_sorted({"fields": fields}, floats_in=fields)
    assert _json.loads(_json.dumps_sorted({"fields": fields}, floats_in=fields)) == {
        "fields": fields}
    big = {"n": 2**70}
    assert json.loads(_json.dumps(big)) == big
    assert _json.loads(_json.dumps_sorted(big)) == big
    assert _json.dumps({1: "a"}) == '{"1":"a"}'  # a key that is not a string, as json does


def test_sorted_keys_and_compact(backend: str) -> None:
    assert _json.dumps_sorted({"b": [1, {"d": 1, "c": 2}], "a": None}) == \
        b'{"a":null,"b":[1,{"c":2,"d":1}]}'
    assert _json.dumps({"b": 1, "a": [True, "\u00e9"]}) in (
        '{"b":1,"a":[true,"\\u00e9"]}', '{"b":1,"a":[true,"\u00e9"]}')


def test_not_json_is_a_value_error(backend: str) -> None:
    for bad in (b"", b"{", b"\xff", b'{"a":1}x', "nul"):
        with pytest.raises(ValueError):
            _json.loads(bad)


def test_a_snapshot_written_by_either_restores_with_either() -> None:
    from test_session_snapshot import _in_flight_server

    from omadm_codec.session import ServerSession

    server, _blob, client = _in_flight_server()
    lookup = server.policy._lookup
    answer = client.data_to_send(now=0)
    assert answer is not None
    blobs = {"orjson": server.snapshot(b"k")}
    saved = _json.orjson
    _json.orjson = None  # type: ignore[assignment]
    try:
        blobs["stdlib"] = server.snapshot(b"k")
        replies = []
        for blob in blobs.values():
            restored = ServerSession.restore(blob, secret_lookup=lookup, key=b"k")
            restored.receive(answer.body, now=0, content_type=answer.content_type)
            replies.append(restored.data_to_send().body)
    finally:
        _json.orjson = saved
    for blob in blobs.values():
        restored = ServerSession.restore(blob, secret_lookup=lookup, key=b"k")
        restored.receive(answer.body, now=0, content_type=answer.content_type)
        replies.append(restored.data_to_send().body)
    assert len(set(replies)) == 1
    # The same document, both ways (ASCII here: the bytes are equal too).
    assert blobs["orjson"].split(b"\n", 2)[2] == blobs["stdlib"].split(b"\n", 2)[2]


def test_an_infinite_idle_timeout_survives_a_snapshot() -> None:
    from test_session import make_server

    from omadm_codec.session import ServerSession

    server = make_server(client_auth="BASIC", idle_timeout=math.inf)
    restored = ServerSession.restore(server.snapshot(b"k"), secret_lookup=server.policy._lookup,
                                     key=b"k")
    assert restored.idle_timeout == math.inf


@given(text=st.text(alphabet=st.characters(blacklist_categories=("Cs",))))
def test_a_string_is_written_as_inside_a_document(text: str) -> None:
    """``dumps_string`` writes what ``dumps`` writes for the string, with either writer
    (the stored outcomes splice it into documents they write as text)."""
    saved = _json.orjson
    try:
        for writer in (saved, None):
            _json.orjson = writer  # type: ignore[assignment]
            assert _json.dumps_string(text) == _json.dumps(text)
            assert _json.dumps([text, 1])[1:-3] == _json.dumps_string(text)
    finally:
        _json.orjson = saved
