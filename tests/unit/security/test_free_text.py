"""Free text is a contract type (issue 15): validated on the way in, a reference on the way out.

- ``clean_text`` / ``FreeText``: NFC, CRLF → LF, trimmed, bounded; C0/C1 controls but newline and
  tab refused with a reason (pydantic names the field);
- no event of any contract carries a free-text ``str`` (only references and system text), and no
  request body of any service takes one that is not a ``TextRules`` free text;
- events recorded before v2 (raw text) are upcast to withheld references, also on the relay's
  way out (``EventRegistry.current_json``).
"""

from __future__ import annotations

import importlib
import json
import typing
import unicodedata
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

import services
from shared.contracts import complaint as c
from shared.contracts import feedback as fb
from shared.contracts import followup as fu
from shared.contracts import reception as r
from shared.contracts.text import MAX_TEXT, FreeText, ShortText, TextRef, clean_text
from shared.envelope import Envelope
from shared.registry import REGISTRY
from shared.runner import create_app
from shared.settings import ServiceSettings

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
CONTROLS = [chr(n) for n in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0))]


class Body(BaseModel):
    note: FreeText
    label: ShortText = "x"


# ---------------------------------------------------------------------------------- the type


def test_free_text_is_nfc_trimmed_with_plain_line_ends() -> None:
    decomposed = "Cafe\u0301 \r\nline two\rthree\t "
    assert Body(note=decomposed).note == "Café \nline two\nthree"
    assert unicodedata.is_normalized("NFC", Body(note=decomposed).note)


@pytest.mark.parametrize("control", CONTROLS)
def test_every_control_character_but_newline_and_tab_is_refused_naming_the_field(control: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Body(note=f"abc{control}def")
    (error,) = raised.value.errors()
    assert error["loc"] == ("note",) and f"U+{ord(control):04X}" in error["msg"]
    assert "abc" not in error["msg"]  # the reason, never the text


def test_controls_at_the_ends_are_refused_too_not_trimmed_away() -> None:
    for text in ("\x1fabc", "abc\x85", "\x00"):
        with pytest.raises(ValidationError):
            Body(note=text)


def test_bounds_count_the_normal_form_and_empty_is_refused_where_required() -> None:
    assert len(Body(note="x" * MAX_TEXT).note) == MAX_TEXT
    for bad in ("x" * (MAX_TEXT + 1), "   ", ""):
        with pytest.raises(ValidationError):
            Body(note=bad)
    with pytest.raises(ValidationError, match="one line"):
        Body(note="ok", label="two\nlines")
    schema = Body.model_json_schema()["properties"]["note"]
    assert schema["maxLength"] == MAX_TEXT and schema["minLength"] == 1


@given(st.text(max_size=300))
def test_any_text_is_either_clean_or_refused(text: str) -> None:
    try:
        cleaned = clean_text(text, max_length=250)
    except ValueError as exc:
        assert "position" in str(exc) or "characters" in str(exc)
        return
    assert not any(ch in cleaned for ch in CONTROLS) and "\r" not in cleaned
    assert len(cleaned) <= 250 and cleaned == cleaned.strip()
    assert clean_text(cleaned, max_length=250) == cleaned  # idempotent


def test_a_reference_has_an_id_exactly_when_it_is_not_withheld() -> None:
    TextRef(context="complaint", text_id=uuid4(), length=3)
    TextRef(context="complaint", length=3, withheld=True)
    with pytest.raises(ValidationError):
        TextRef(context="complaint", length=3)
    with pytest.raises(ValidationError):
        TextRef(context="hq", text_id=uuid4(), length=3)  # HQ keeps no texts


# --------------------------------------------------------------------- no free text travels

#: event fields that are system text (written by code from codes, figures and configuration)
SYSTEM_TEXT = {
    ("ComplaintAcknowledged", "timeline"),
    ("ComplaintClassified", "source"),
    ("RegulatoryMilestoneReached", "action"),
    ("RegulatoryMilestoneReached", "profile"),
    ("FollowUpScheduled", "reason"),
    ("FollowUpScheduled", "subject"),
    ("FollowUpCompleted", "rule"),
    ("FollowUpCancelled", "rule"),
    ("FollowUpPaused", "rule"),
    ("FollowUpResumed", "rule"),
    ("ClockStart", "clock"),
    ("ClockStart", "profile"),
    ("ClockStart", "profile_version"),
    ("ClockStart", "calendar"),
    ("ClockStart", "met_by"),
    ("ClockStart", "rule"),
    ("ClockStart", "citation"),
    ("ClockOutcome", "clock"),
    ("ClockOutcome", "profile"),
    ("ClockOutcome", "by"),
    ("ComplaintReceived", "regulatory_profile"),
    ("RepeatComplaintMerged", "received_in_branch"),
    ("VisitServed", "counter_id"),
    ("SurveyRequested", "subject"),
    ("SurveyRequested", "service_type"),
    ("SurveySent", "message_id"),
    ("SurveyAnswered", "subject"),
    ("SurveyAnswered", "reasons"),
    ("SurveyAnswered", "service_type"),
    ("SurveyExpired", "subject"),
    ("NegativeFeedbackReceived", "subject"),
    ("NegativeFeedbackReceived", "matched"),
    ("SlaAtRisk", "subject_id"),
    ("SlaAtRisk", "rule"),
    ("SlaBreached", "subject_id"),
    ("SlaBreached", "rule"),
    ("CrisisSuspected", "alert_key"),
    ("CrisisSuspected", "category"),
    ("CrisisSuspected", "branch_ids"),
    ("CrisisSuspected", "rule"),
    ("RepeatComplainantDetected", "alert_key"),
    ("RepeatComplainantDetected", "branch_ids"),
    ("RepeatComplainantDetected", "rule"),
}


def _plain_strings(model: type[BaseModel]) -> list[tuple[str, str]]:
    """(model, field) of every ``str`` field without a pattern, enum or literal, nested included."""
    found: list[tuple[str, str]] = []
    for name, info in model.model_fields.items():
        patterned = any(getattr(m, "pattern", None) for m in info.metadata)
        for arg in (info.annotation, *typing.get_args(info.annotation)):
            inner = typing.get_args(arg) or (arg,)
            for kind in inner:
                if isinstance(kind, type) and issubclass(kind, BaseModel):
                    found += _plain_strings(kind)
        annotation = repr(info.annotation)
        metadata_patterns = "pattern=" in annotation
        if "str" in annotation and not patterned and not metadata_patterns and "Literal" not in annotation:
            if not (isinstance(info.annotation, type) and issubclass(info.annotation, Enum)):
                found.append((model.__name__, name))
    return found


def test_no_event_carries_free_text_only_references_and_system_text() -> None:
    importlib.import_module("shared.contracts.hq")
    offenders = sorted(
        {field for model in REGISTRY._models.values() for field in _plain_strings(model)} - SYSTEM_TEXT
    )
    assert not offenders, f"free text in events (use TextRef): {offenders}"


SERVICE_DIRS = sorted(p.parent.name for p in Path(services.__file__).parent.glob("*/service.py"))
_SETTINGS = ServiceSettings(
    database_url="postgresql://x@127.0.0.1:1/x", kafka_bootstrap_servers="127.0.0.1:1"
)


def _strings(schema: dict[str, Any], spec: dict[str, Any], path: str) -> list[tuple[str, dict[str, Any]]]:
    if "$ref" in schema:
        return _strings(spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]], spec, path)
    out: list[tuple[str, dict[str, Any]]] = []
    for option in schema.get("anyOf", []) + schema.get("allOf", []):
        out += _strings(option, spec, path)
    if schema.get("type") == "object":
        for name, prop in schema.get("properties", {}).items():
            out += _strings(prop, spec, f"{path}.{name}")
    if schema.get("type") == "array":
        out += _strings(schema.get("items", {}), spec, f"{path}[]")
    if schema.get("type") == "string" and not ({"enum", "pattern", "format", "const"} & schema.keys()):
        out.append((path, schema))
    return out


#: string fields that are not free text: the vault's structured PII (validated by its own rules,
#: stored encrypted in the vault only) and a decimal amount
NOT_FREE_TEXT = {
    "POST /branches/{branch_id}/customers body.name",
    "POST /branches/{branch_id}/customers body.phone",
    "POST /branches/{branch_id}/customers body.id_number",
    "POST /branches/{branch_id}/customers/{customer_ref}/contact body.name",
    "POST /branches/{branch_id}/customers/{customer_ref}/contact body.phone",
    "POST /complaints/{complaint_id}/propose body.solutions[].compensation",
}


@pytest.mark.parametrize("name", SERVICE_DIRS)
def test_every_free_text_field_of_every_request_body_is_a_free_text(name: str) -> None:
    module = importlib.import_module(f"services.{name}.service")
    spec = create_app(module.SERVICE, _SETTINGS).openapi()
    plain = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if method not in ("post", "put", "patch") or content is None:
                continue
            for field, schema in _strings(content["schema"], spec, "body"):
                if not schema.get("description", "").startswith("Free text"):
                    plain.append(f"{method.upper()} {path} {field}")
    plain = [field for field in plain if field not in NOT_FREE_TEXT]
    assert not plain, f"{name}: unvalidated text fields: {plain}"


# ----------------------------------------------------------------------- events before v2


def _v1(event_type: str, data: dict[str, Any], stream: str = "complaint-x") -> Envelope:
    return Envelope(
        event_id=uuid4(),
        type=event_type,
        schema_version=1,
        stream_id=stream,
        stream_version=1,
        branch_id="b001",
        occurred_at=T0,
        recorded_at=T0,
        correlation_id=uuid4(),
        actor="lm-1",
        data=data,
    )


NAME_AND_NUMBERS = "客户王小明，手机13800000000，身份证110101199003070000"  # obviously synthetic


def test_a_v1_event_with_raw_text_is_upcast_to_a_withheld_reference() -> None:
    cid = uuid4()
    old = _v1(
        "ComplaintReceived",
        {
            "complaint_id": str(cid),
            "channel": "phone_hotline",
            "customer_ref": "cust_ref_0001",
            "description": NAME_AND_NUMBERS,
            "received_at": T0.isoformat(),
        },
    )
    new = REGISTRY.upcast(old)
    assert new.schema_version == c.ComplaintReceived.schema_version == 2
    event = REGISTRY.decode(new)
    assert isinstance(event, c.ComplaintReceived) and event.description is not None
    assert event.description.withheld and event.description.text_id is None
    assert event.description.length == len(NAME_AND_NUMBERS)
    assert "王小明" not in new.model_dump_json() and "13800000000" not in new.model_dump_json()


@pytest.mark.parametrize(
    ("event_type", "data", "model"),
    [
        (
            "SolutionsProposed",
            {"complaint_id": str(uuid4()), "at": T0.isoformat(), "solutions": [
                {"solution_id": str(uuid4()), "description": NAME_AND_NUMBERS}
            ]},
            c.SolutionsProposed,
        ),
        (
            "ComplaintClosed",
            {"complaint_id": str(uuid4()), "at": T0.isoformat(), "result": NAME_AND_NUMBERS, "root_cause": "",
             "remediation_actions": [{"action_id": str(uuid4()), "description": NAME_AND_NUMBERS,
                                      "owner": "ops-1", "due_at": T0.isoformat()}]},
            c.ComplaintClosed,
        ),
        (
            "VisitServed",
            {"visit_id": str(uuid4()), "service_type": "transfer", "counter_id": "3", "staff_id": "t-1",
             "outcome": NAME_AND_NUMBERS, "next_steps": "", "waited_seconds": 1, "at": T0.isoformat()},
            r.VisitServed,
        ),
        (
            "FollowUpScheduled",
            {"task_id": str(uuid4()), "kind": "callback", "due_at": T0.isoformat(),
             "reason": f"Call back: {NAME_AND_NUMBERS}", "subject": "visit:x"},
            fu.FollowUpScheduled,
        ),
        (
            "FollowUpCancelled",
            {"task_id": str(uuid4()), "kind": "callback", "reason": NAME_AND_NUMBERS, "automatic": True,
             "at": T0.isoformat()},
            fu.FollowUpCancelled,
        ),
        (
            "NegativeFeedbackReceived",
            {"survey_id": str(uuid4()), "subject": "visit:x", "customer_ref": "cust_ref_0001", "score": 1,
             "comment": NAME_AND_NUMBERS, "at": T0.isoformat()},
            fb.NegativeFeedbackReceived,
        ),
    ],
)  # fmt: skip
def test_every_shape_of_old_text_is_withheld(event_type: str, data: dict[str, Any], model: Any) -> None:
    new = REGISTRY.upcast(_v1(event_type, data))
    assert isinstance(REGISTRY.decode(new), model)
    dumped = new.model_dump_json()
    assert "王小明" not in dumped and "13800000000" not in dumped and "110101199003070000" not in dumped


def test_the_relay_gets_old_rows_upcast_and_current_ones_untouched() -> None:
    old = _v1(
        "ProgressUpdateGiven",
        {"complaint_id": str(uuid4()), "note": NAME_AND_NUMBERS, "at": T0.isoformat()},
    )
    raw = old.model_dump_json()
    out = REGISTRY.current_json("ProgressUpdateGiven", 1, raw)
    assert "王小明" not in out and json.loads(out)["schema_version"] == 2
    assert json.loads(out)["data"]["note"]["withheld"] is True
    current = REGISTRY.upcast(old).model_dump_json()
    assert REGISTRY.current_json("ProgressUpdateGiven", 2, current) is current
    assert REGISTRY.current_json("NoSuchEvent", 1, "not even json") == "not even json"


# ------------------------------------------------------------------------- showing texts


def test_a_view_shows_the_words_only_to_their_owner_s_readers() -> None:
    from shared.texts import StoredText, TextReader, refs_in

    own = TextRef(context="complaint", text_id=uuid4(), length=5)
    erased = TextRef(context="complaint", text_id=uuid4(), length=5)
    foreign = TextRef(context="reception", text_id=uuid4(), length=5)
    old = TextRef(context="complaint", length=9, withheld=True)
    found = {
        own.text_id: StoredText(own.text_id, "b1", "branch:b1", 5, "words"),  # type: ignore[arg-type]
        erased.text_id: StoredText(erased.text_id, "b1", "customer:x", 5, None),  # type: ignore[arg-type]
    }
    reader = TextReader("complaint", found, may_read=True)
    views = {name: reader.view(ref) for name, ref in (("own", own), ("erased", erased), ("foreign", foreign))}
    assert {k: (v.status, v.text) for k, v in views.items() if v} == {
        "own": ("shown", "words"),
        "erased": ("erased", None),
        "foreign": ("elsewhere", None),
    }
    assert reader.view(old) is not None and reader.view(old).status == "withheld"  # type: ignore[union-attr]
    assert reader.view(TextRef(context="complaint", text_id=uuid4(), length=1)).status == "unknown"  # type: ignore[union-attr]
    hidden = TextReader("complaint", found, may_read=False).view(own)
    assert hidden is not None and hidden.status == "hidden" and hidden.text is None
    data = {"note": own.model_dump(mode="json"), "items": [{"description": foreign.model_dump(mode="json")}]}
    assert refs_in(data) == [own, foreign]
    rendered = reader.render(data)
    assert (
        rendered["note"]["text"] == "words" and rendered["items"][0]["description"]["status"] == "elsewhere"
    )
