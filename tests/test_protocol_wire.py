"""The wire, byte for byte: every frame kind through the typed codec of ``federation/protocol.py``.

``WIRE`` holds the bytes the codec produced for these messages before it had message types
(``protocol.encode`` of the same frames as lists, at commit 463e650); the typed messages,
the hot-path functions and the list codec must all produce exactly these bytes, and reading
them back must give the same message.  docs/protocol.md is the contract (§10 has the first
GRANT and DONE byte by byte).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from federation import protocol
from federation.protocol import ErrorCode, Kind

MESSAGES: dict[str, protocol.Message] = {
    "hello3": protocol.Hello(1, "tank"),
    "hello": protocol.Hello(1, "tank", {"token": "abc", "pid": 42, "lang": "python", "steps": True}),
    "welcome": protocol.Welcome({"name": "tank", "seed": 7, "resolution": 1.0, "params": {"area": 80.0},
                                 "inputs": ["rain"], "heartbeat": 2.0, "index": 1}),  # fmt: skip
    "declare": protocol.Declare({"inputs": [["rain", "float", "mm/h", 0.0]], "outputs": [["level", "float", "m", 1.2]],
                                 "endpoints": ["alarms"]}),  # fmt: skip
    "grant": protocol.Grant(300, 0, {0: 1.85}, []),
    "grant_messages": protocol.Grant(360, 2, {0: 1.0, 1: [1, 2]}, [[300, "control.alarms", "alarms", {"level": 1.85}]]),
    "done": protocol.Done(300, 0, {0: 1.0}, [["alarms", {"level": 1.85}, None, None]], None),
    "done_next": protocol.Done(2**40, 1, {}, [], 2**40 + 5),
    "done_extras": protocol.Done(7, 0, {0: 1.5}, [], 9, {"external": [[0, 0.0065, 1796220000.5, 1.5]]}),
    "stop": protocol.Stop("end of run"),
    "bye1": protocol.Bye(),
    "bye": protocol.Bye({"time": 86400.0}),
    "error": protocol.Error(ErrorCode.OUT_OF_TURN, "tank: DONE for tick 3 but its grant is 2 (busy)"),
    "ping": protocol.Ping(),
    "pong": protocol.Pong(),
    "wake": protocol.Wake(12),
    "save": protocol.Save(3600),
    "state": protocol.State(3600, b"\x80\x05state"),
    "state_ack": protocol.State(3600, None),
    "restore": protocol.Restore(3600, b"\x80\x05state"),
    "steps": protocol.Steps([[1, {0: 0.5}, []], [2, {}, [[2, "a.b", "c", 1]]]]),
    "steps_done": protocol.StepsDone([[1, {0: 1.25}, [], None], [2, {}, [["ep", "x", None, "b.c"]], None]]),
    "grants": protocol.Grants([[0, 5, 0, {0: 1.5}, []], [7, 5, 0, {}, [[5, "a.b", "c", None]]]]),
    "dones": protocol.Dones([[0, 5, 0, {0: 2.0}, [], None], [7, 5, 0, {}, [["ep", 1, None, None]], 6, {"external": []}]]),
}

WIRE = {
    "hello3": "930101a474616e6b",
    "hello": "940101a474616e6b84a5746f6b656ea3616263a37069642aa46c616e67a6707974686f6ea57374657073c3",
    "welcome": "920287a46e616d65a474616e6ba47365656407aa7265736f6c7574696f6ecb3ff0000000000000a6706172616d7381a461726561cb4054000000000000a6696e7075747391a47261696ea9686561727462656174cb4000000000000000a5696e64657801",
    "declare": "920383a6696e707574739194a47261696ea5666c6f6174a46d6d2f68cb0000000000000000a76f7574707574739194a56c6576656ca5666c6f6174a16dcb3ff3333333333333a9656e64706f696e747391a6616c61726d73",
    "grant": "9504cd012c008100cb3ffd99999999999a90",
    "grant_messages": "9504cd0168028200cb3ff0000000000000019201029194cd012cae636f6e74726f6c2e616c61726d73a6616c61726d7381a56c6576656ccb3ffd99999999999a",
    "done": "9605cd012c008100cb3ff00000000000009194a6616c61726d7381a56c6576656ccb3ffd99999999999ac0c0c0",
    "done_next": "9605cf0000010000000000018090cf0000010000000005",
    "done_extras": "970507008100cb3ff8000000000000900981a865787465726e616c919400cb3f7a9fbe76c8b439cb41dac40918200000cb3ff8000000000000",
    "stop": "9206aa656e64206f662072756e",
    "bye1": "9107",
    "bye": "920781a474696d65cb40f5180000000000",
    "error": "930805d92f74616e6b3a20444f4e4520666f72207469636b20332062757420697473206772616e74206973203220286275737929",
    "ping": "9109",
    "pong": "910a",
    "wake": "920b0c",
    "save": "920ccd0e10",
    "state": "930dcd0e10c40780057374617465",
    "state_ack": "930dcd0e10c0",
    "restore": "930ecd0e10c40780057374617465",
    "steps": "92149293018100cb3fe000000000000090930280919402a3612e62a16301",
    "steps_done": "92159294018100cb3ff400000000000090c09402809194a26570a178c0a3622e63c0",
    "grants": "920f92950005008100cb3ff8000000000000909507050080919405a3612e62a163c0",
    "dones": "921092960005008100cb400000000000000090c097070500809194a2657001c0c00681a865787465726e616c90",
}


def test_every_kind_has_a_message_type_and_a_case_here():
    assert set(protocol.MESSAGES) == set(Kind)
    assert {type(m).KIND for m in MESSAGES.values()} == set(Kind)
    assert MESSAGES.keys() == WIRE.keys()


@pytest.mark.parametrize("name", sorted(WIRE))
def test_a_message_encodes_to_the_bytes_of_before(name):
    assert MESSAGES[name].encode().hex() == WIRE[name]


@pytest.mark.parametrize("name", sorted(WIRE))
def test_the_bytes_read_back_as_the_same_message(name):
    message = protocol.read(bytes.fromhex(WIRE[name]))
    assert message == MESSAGES[name]
    assert type(message) is type(MESSAGES[name])


@pytest.mark.parametrize("name", sorted(WIRE))
def test_the_list_codec_agrees_with_the_messages(name):
    data = bytes.fromhex(WIRE[name])
    assert protocol.decode(data) == MESSAGES[name].frame()
    assert protocol.encode(MESSAGES[name].frame()) == data


def test_the_hot_path_functions_make_the_same_bytes():
    grant = MESSAGES["grant_messages"]
    assert isinstance(grant, protocol.Grant)
    data = protocol.encode_grant(grant.tick, grant.iteration, grant.inputs, grant.messages)
    assert data.hex() == WIRE["grant_messages"]
    assert protocol.decode_grant(data) == (grant.tick, grant.iteration, grant.inputs, grant.messages)
    done = MESSAGES["done"]
    assert isinstance(done, protocol.Done)
    data = protocol.encode_done(done.tick, done.iteration, done.outputs, done.messages, done.next_tick)
    assert data.hex() == WIRE["done"]
    assert protocol.unpack(data) == done.frame()


def test_the_protocol_document_example_is_what_the_codec_sends():
    """docs/protocol.md §10 gives the GRANT and the DONE of the worked example byte for byte."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "protocol.md").read_text(encoding="utf-8")
    grant = protocol.Grant(300, 0, {0: 1.85}, []).encode()
    done = protocol.Done(300, 0, {0: 1.0}, [["alarms", {"level": 1.85}, None, None]], None).encode()
    assert grant.hex(" ") in text and done.hex(" ") in text


@pytest.mark.parametrize("data", [bytes.fromhex(WIRE["done"]), b"\xc1", bytes.fromhex("9404cd012c0081"),
                                  b"\x95\x04\xa1x\x00\x80\x90"])
def test_decode_grant_declines_anything_but_a_grant(data):
    assert protocol.decode_grant(data) is None


def test_an_unknown_error_code_is_kept_as_a_number():
    message = protocol.read(protocol.encode([Kind.ERROR, 99, "from a newer peer"]))
    assert message == protocol.Error(99, "from a newer peer")
    assert protocol.read(bytes.fromhex(WIRE["error"])).code is ErrorCode.OUT_OF_TURN  # type: ignore[union-attr]
