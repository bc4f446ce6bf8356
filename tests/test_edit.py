"""The rules of an edit of a proposal's payload (docs/decisions.md, "Editing a proposal")."""

from __future__ import annotations

import pytest

from federation import Endpoint, PayloadField
from federation.decisions.edit import EditRefused, apply_edit

ORDER = {"opening": 0.6, "reason": "forecast", "gates": 2, "manual": False,
         "limits": {"max": 1.0, "min": 0.0}, "nodes": ["a", "b"], "note": None}  # fmt: skip


def test_named_fields_are_replaced_and_the_others_kept():
    edited = apply_edit(ORDER, {"opening": 0.3, "reason": "operator"})
    assert edited == ORDER | {"opening": 0.3, "reason": "operator"}
    assert ORDER["opening"] == 0.6  # the proposal itself is not changed


def test_a_mapping_merges_into_a_nested_mapping_like_a_dotted_path():
    assert apply_edit(ORDER, {"limits": {"max": 0.8}})["limits"] == {"max": 0.8, "min": 0.0}
    assert apply_edit(ORDER, {"limits.max": 0.8})["limits"] == {"max": 0.8, "min": 0.0}


def test_an_edit_that_is_not_a_mapping_is_refused():
    with pytest.raises(EditRefused, match=r"^an edit is a mapping .* e\.g\. \{opening: 0\.6\}; got 'opening 0\.3'$"):
        apply_edit(ORDER, "opening 0.3")
    with pytest.raises(EditRefused, match="an empty edit changes nothing"):
        apply_edit(ORDER, {})


def test_an_unknown_field_is_refused_with_a_suggestion():
    with pytest.raises(EditRefused, match=r"^openng: no such field in the proposal \(it has .*\); did you mean 'opening'"):
        apply_edit(ORDER, {"openng": 0.3})
    with pytest.raises(EditRefused, match=r"^limits\.mx: .*did you mean 'limits\.max'\?$"):
        apply_edit(ORDER, {"limits": {"mx": 0.3}})


@pytest.mark.parametrize("edit, message", [
    ({"opening": "0.3"}, "opening: expected a number like the proposal's 0.6, got '0.3'"),
    ({"gates": 2.5}, "gates: expected an integer like the proposal's 2, got 2.5"),
    ({"manual": 1}, "manual: expected true or false like the proposal's False, got 1"),
    ({"opening": True}, "opening: expected a number like the proposal's 0.6, got True"),
    ({"limits": 1.0}, "limits: expected a mapping like the proposal's {'max': 1.0, 'min': 0.0}, got 1.0"),
    ({"nodes": [1, 2]}, "nodes: expected a list like the proposal's ['a', 'b'], got [1, 2]"),
    ({"opening": float("nan")}, "opening: expected a finite number, got nan"),
])  # fmt: skip
def test_a_value_of_another_type_is_refused(edit, message):
    with pytest.raises(EditRefused) as info:
        apply_edit(ORDER, edit)
    assert str(info.value) == message


def test_compatible_types_are_accepted():
    edited = apply_edit(ORDER, {"opening": 1, "nodes": ["c"], "note": {"by": "alice"}})
    assert edited["opening"] == 1 and edited["nodes"] == ["c"] and edited["note"] == {"by": "alice"}


def test_declared_fields_are_checked_and_may_be_added():
    orders = Endpoint(name="orders", fields={"opening": PayloadField(float, low=0.0, high=1.0),
                                             "hold_s": PayloadField(int, low=0)})  # fmt: skip
    gate = Endpoint(name="gate", fields={"opening": PayloadField(float, high=0.9)})
    declared = {"opening": (("dam.orders", orders.fields["opening"]), ("flood.gate", gate.fields["opening"])),
                "hold_s": (("dam.orders", orders.fields["hold_s"]),)}  # fmt: skip
    assert apply_edit(ORDER, {"hold_s": 600}, declared)["hold_s"] == 600
    with pytest.raises(EditRefused, match=r"^opening: must be in \[0, 1\], got 1\.5 \(as dam\.orders declares\)$"):
        apply_edit(ORDER, {"opening": 1.5}, declared)
    with pytest.raises(EditRefused, match=r"^opening: must be at most 0\.9, got 0\.95 \(as flood\.gate declares\)$"):
        apply_edit(ORDER, {"opening": 0.95}, declared)
    with pytest.raises(EditRefused, match=r"^hold_s: expected int, got float 1\.5"):
        apply_edit(ORDER, {"hold_s": 1.5}, declared)


def test_a_payload_that_is_not_a_mapping_is_replaced_by_a_value_of_its_type():
    assert apply_edit(0.9, 0.5) == 0.5
    with pytest.raises(EditRefused, match="^the payload: expected a number like the proposal's 0.9, got 'half'$"):
        apply_edit(0.9, "half")


def test_a_field_declaration_is_checked_when_the_federate_class_is_made():
    with pytest.raises(TypeError, match="endpoint fields map names to PayloadField"):
        Endpoint(fields={"opening": float})
    with pytest.raises(TypeError, match="a payload field's type is one of"):
        PayloadField(complex)
