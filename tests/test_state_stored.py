"""Commands and outcomes as the state store keeps them (``omadm_codec.http.stored``): the
operator's file formats, one encode for many commands equal to one each, and an outcome that
comes back as the ``CommandCompleted`` it recorded."""

from __future__ import annotations

import copy
import json

import pytest

from omadm_codec.errors import DecodeError
from omadm_codec.http.delivery import QUEUE_TAG, Delivery
from omadm_codec.http.state import Entry, outcome_detail
from omadm_codec.http.stored import (
    command_from_xml,
    command_xml,
    commands_from_file,
    commands_from_xml,
    commands_xml,
    completed_from_entry,
    outcome_json,
    refused_json,
)
from omadm_codec.messages.model import (
    Atomic,
    Exec,
    Get,
    Item,
    Meta,
    Replace,
    Results,
    Source,
    Target,
)
from omadm_codec.session import events as ev

GET = Get("1", [Item(target=Target("./DevInfo/Mod"))])
REPLACE = Replace("2", [Item(target=Target("./A/B"), meta=Meta(format="int"), data="4")])


def test_one_command_round_trips() -> None:
    for command in (GET, REPLACE, Exec("3", [Item(target=Target("./Ops/Reboot"))]),
                    Atomic("4", [REPLACE, GET])):
        text = command_xml(command)
        assert text.startswith(f"<{command.ELEMENT}>") and "SyncBody" not in text
        assert command_from_xml(text) == command
    assert commands_from_xml([command_xml(GET), command_xml(REPLACE)]) == [GET, REPLACE]
    with pytest.raises(DecodeError):
        command_from_xml(command_xml(GET) * 2)
    with pytest.raises(DecodeError):
        commands_from_xml([command_xml(GET) * 2])


def test_many_results_in_one_encode_equal_one_each() -> None:
    results = [Results(str(i), str(i), [Item(source=Source(f"./x/{i}"),
                                               data=f"a</Results><Results>{i}")],
                       msg_ref="2") for i in range(1, 6)]
    assert commands_xml(results) == [command_xml(r) for r in results]
    nested = [Atomic("1", [Atomic("2", [GET])]), GET]
    assert commands_xml(nested) == [command_xml(c) for c in nested]  # type: ignore[arg-type]
    assert commands_xml([]) == []


@pytest.mark.parametrize("data", [
    b"<Get><CmdID>1</CmdID><Item><Target><LocURI>./DevInfo/Mod</LocURI></Target></Item></Get>",
    b'<?xml version="1.0"?>\n<Get><Item><Target><LocURI>./DevInfo/Mod</LocURI></Target>'
    b"</Item></Get>",
    b"\xef\xbb\xbf<Get><Item><Target><LocURI>./DevInfo/Mod</LocURI></Target></Item></Get>",
])
def test_operator_files_bare_commands(data: bytes) -> None:
    (command,) = commands_from_file(data)
    assert isinstance(command, Get) and command.cmd_id == "1"
    assert command.items[0].target is not None
    assert command.items[0].target.loc_uri == "./DevInfo/Mod"


def test_operator_files_a_whole_message_and_refusals() -> None:
    message = (b'<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2'
               b"</VerProto><SessionID>1</SessionID><MsgID>1</MsgID><Target><LocURI>d</LocURI>"
               b"</Target><Source><LocURI>s</LocURI></Source></SyncHdr><SyncBody>"
               + command_xml(GET).encode() + command_xml(REPLACE).encode()
               + b"<Final/></SyncBody></SyncML>")
    assert commands_from_file(message) == [GET, REPLACE]
    for bad, reason in ((b"", None), (b"<Get><CmdID>1</CmdID><Item></Get>", None),
                        (b"<Results><CmdID>1</CmdID><CmdRef>1</CmdRef><Item><Source><LocURI>"
                         b"./a</LocURI></Source><Data>x</Data></Item></Results>",
                         "not_a_command")):
        with pytest.raises(DecodeError) as error:
            commands_from_file(bad)
        if reason:
            assert error.value.reason == reason
        assert error.value.offset <= len(bad)


def test_an_outcome_comes_back_as_recorded() -> None:
    results = Results("5", "1", [Item(source=Source("./DevInfo/Mod"), data="AX-5 Pro")],
                      msg_ref="2")
    atomic = Atomic("7", [REPLACE, GET])
    done = ev.CommandCompleted(atomic, 200, (), (200,), (
        ev.CommandCompleted(REPLACE, 200, (), (200,)),
        ev.CommandCompleted(GET, 200, (results,), (200,))), ("text",))
    text = outcome_json(done)
    assert outcome_detail(text) == "200"
    entry = Entry("1", "IMEI:1", command_xml(atomic), "done", None, None, False, 0.0, (),
                  json.loads(text))
    again = completed_from_entry(entry)
    assert again is not None
    assert again == done
    refused = refused_json("too_large")
    assert outcome_detail(refused) == "too_large"
    back = completed_from_entry(Entry("2", "IMEI:1", command_xml(GET), "done", None, None,
                                      False, 0.0, (), json.loads(refused)))
    assert back is not None and back.status == 0
    assert completed_from_entry(Entry("3", "IMEI:1", command_xml(GET), "queued", None, None,
                                      False, 0.0, (), None)) is None


@pytest.mark.parametrize("value", [
    {"status": 200, "item_statuses": [], "data": ["AX-5 Pro"], "results": ["<Results/>"]},
    {"status": -1, "data": ["é \" \\ \n \u2028 \U0001f600"], "ok": True, "outcome": None,
     "n": [1.5, -0.0, 10**20], "children": [{"status": 215, "children": []}]},
])
def test_outcomes_are_encoded_as_compact_json_dumps_would(value: object) -> None:
    from omadm_codec import _json

    # Without orjson: the prebuilt C encoder writes exactly what json.dumps does; with it,
    # the same value (orjson writes non-ASCII as UTF-8, not escaped).
    assert _json._stdlib_dumps(value) == json.dumps(value, separators=(",", ":"))
    assert json.loads(_json.dumps(value)) == value


def _record(event: ev.CommandCompleted) -> dict[str, object]:
    """The outcome record as ``outcome_json`` documents it, built the plain way."""
    out: dict[str, object] = {
        "status": event.status, "item_statuses": list(event.item_statuses),
        "data": list(event.data), "results": [command_xml(r) for r in event.results],
        "outcome": event.outcome, "ok": event.outcome == "ok"}
    if event.children:
        out["children"] = [_record(child) for child in event.children]
    return out


@pytest.mark.parametrize("writer", ["orjson", "stdlib"])
def test_outcomes_are_written_as_dumps_writes_their_records(
        writer: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The common outcome is written as text and every Results of a batch escaped at once:
    the same bytes ``dumps`` writes for each record, with orjson and without it."""
    from omadm_codec import _json
    from omadm_codec.http.stored import outcomes_json

    if writer == "stdlib":
        monkeypatch.setattr(_json, "orjson", None)
    elif _json.orjson is None:
        pytest.skip("orjson is not installed (the http extra)")

    def results(n: int, data: str) -> Results:
        return Results(str(n), str(n), [Item(source=Source(f"./x/{n}"), data=data)],
                       msg_ref="2")

    awkward = 'é "q" \\ \t\n </Results><Results> \u2028 \U0001f600 &lt;'
    events = [
        ev.CommandCompleted(GET, 200, (results(1, "plain"),), (200,)),
        ev.CommandCompleted(GET, 200, (results(2, awkward),), (200,)),
        ev.CommandCompleted(REPLACE, 200, (), (200,)),
        ev.CommandCompleted(REPLACE, 404, (), (404,)),
        ev.CommandCompleted(GET, 0, outcome="no_status"),
        ev.CommandCompleted(GET, 200, (results(3, "a"), results(4, awkward)), (200,)),
        ev.CommandCompleted(GET, 207, (results(5, "b"),), (207, 404)),
        ev.CommandCompleted(GET, 200, (), (200,), data=("typed", awkward)),
        ev.CommandCompleted(Atomic("7", [REPLACE, GET]), 200, (), (200,), (
            ev.CommandCompleted(REPLACE, 200, (), (200,)),
            ev.CommandCompleted(GET, 200, (results(6, awkward),), (200,)))),
        ev.CommandCompleted(GET, 10**20, (results(8, "c"),), (10**20,)),
        ev.CommandCompleted(GET, 200, (results(9, "d"),), (200,)),
    ]
    expected = [_json.dumps(_record(e)) for e in events]
    assert outcomes_json(events) == expected
    assert [outcomes_json([e])[0] for e in events] == expected
    assert all(json.loads(text) == _record(e) for text, e in zip(expected, events, strict=True))
    # A request's delivery gathers the Results of its queued commands in its own pass: an
    # application's own command among them (no queue CmdID) takes no text of theirs.
    tagged = []
    for n, e in enumerate(events):
        command = copy.copy(e.command)
        command.cmd_id = f"{QUEUE_TAG}{n}"
        tagged.append(ev.CommandCompleted(command, e.status, e.results, e.item_statuses,
                                          e.children, e.data, e.outcome))
    own = ev.CommandCompleted(GET, 200, (results(10, "own"),), (200,))
    delivery = Delivery()
    delivery.feed([ev.MessageReceived("2", True), own, *tagged[:3], own, *tagged[3:]])
    assert delivery.complete == [(str(n), text) for n, text in enumerate(expected)]
