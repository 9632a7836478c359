"""API errors land next to the field they concern (422 ``loc``) or in a banner (409 and the rest)."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.console.errors import field_path, form_errors
from services.console.i18n import Translator

EN = Translator("en")
ZH = Translator("zh")


def test_field_path_drops_the_location_and_joins_the_rest() -> None:
    assert field_path(["body", "customer_ref"]) == "customer_ref"
    assert field_path(["body", "solutions", 0, "description"]) == "solutions.0.description"
    assert field_path(["query", "sla"]) == "sla"
    assert field_path(["body"]) == ""
    assert field_path(None) == ""


def test_a_422_goes_next_to_its_field_and_the_rest_to_the_banner() -> None:
    body = {
        "detail": [
            {"loc": ["body", "customer_ref"], "msg": "String should match pattern", "type": "string_pattern"},
            {
                "loc": ["body", "accessibility", 1],
                "msg": "Input should be 'hearing' or 'vision'",
                "type": "enum",
            },
            {
                "loc": ["body", "accessibility", 2],
                "msg": "Input should be 'hearing' or 'vision'",
                "type": "enum",
            },
            {"loc": ["body", "mystery"], "msg": "Extra inputs are not permitted", "type": "extra_forbidden"},
            {
                "loc": ["body"],
                "msg": "Value error, a complaint needs a description in notes",
                "type": "value_error",
            },
        ]
    }
    errors = form_errors(422, body, ["customer_ref", "accessibility", "notes"], EN)
    assert errors.fields["customer_ref"] == "String should match pattern"
    assert errors.fields["accessibility"].count("Input should be") == 2  # both items, one field
    assert errors.banner is not None
    assert "mystery: Extra inputs are not permitted" in errors.banner
    assert "a complaint needs a description in notes" in errors.banner
    assert "Value error" not in errors.banner
    assert not errors.conflict and errors.status == 422


def test_nested_fields_map_to_the_indexed_inputs() -> None:
    body = {"detail": [{"loc": ["body", "solutions", 1, "compensation"], "msg": "must be ≥ 0"}]}
    fields = ["solutions.0.description", "solutions.1.compensation"]
    assert form_errors(422, body, fields, EN).fields == {"solutions.1.compensation": "must be ≥ 0"}


def test_a_422_with_a_sentence_is_a_banner() -> None:
    errors = form_errors(422, {"detail": "'from' must not be after 'to'"}, ["from"], EN)
    assert errors.fields == {} and errors.banner == "Please check the input: 'from' must not be after 'to'"


def test_a_409_is_the_reason_in_a_banner_and_a_stale_version_says_a_colleague_changed_it() -> None:
    refused = form_errors(409, {"detail": "cannot close while the case is implemented"}, [], EN)
    assert refused.banner == "Not allowed now: cannot close while the case is implemented"
    assert not refused.conflict
    stale = form_errors(409, {"detail": "expected version 5, stream is at 6", "current_version": 6}, [], ZH)
    assert stale.conflict
    assert "同事" in (stale.banner or "") and "6" in (stale.banner or "")


def test_other_statuses_have_their_own_banner() -> None:
    assert (form_errors(404, {"detail": "visit x does not exist"}, [], EN).banner or "").startswith(
        "Not found"
    )
    assert (form_errors(403, {"detail": "branch b is outside"}, [], EN).banner or "").startswith(
        "Not allowed"
    )
    assert (form_errors(410, {"detail": "window closed"}, [], EN).banner or "").startswith("No longer")
    assert "HTTP 500" in (form_errors(500, "Internal Server Error", [], EN).banner or "")


class Solution(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str = Field(min_length=1)
    compensation: float | None = Field(default=None, ge=0)


class Propose(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customer_ref: str = Field(pattern=r"^[A-Za-z0-9_-]{8,64}$")
    solutions: list[Solution] = Field(min_length=1)

    @model_validator(mode="after")
    def _sane(self) -> Propose:
        if len(self.solutions) > 2:
            raise ValueError("at most two solutions at once")
        return self


async def test_the_mapping_reads_fastapis_real_422_bodies() -> None:
    app = FastAPI()

    @app.post("/propose")
    def propose(body: Propose) -> dict[str, Any]:
        return {}

    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
    bad = await client.post(
        "/propose", json={"customer_ref": "x", "solutions": [{"description": "", "compensation": -1}]}
    )
    assert bad.status_code == 422
    fields = ["customer_ref", "solutions.0.description", "solutions.0.compensation"]
    errors = form_errors(bad.status_code, bad.json(), fields, EN)
    assert set(errors.fields) == set(fields)
    assert errors.banner is None
    too_many = await client.post(
        "/propose", json={"customer_ref": "cust_0001", "solutions": [{"description": "a"}] * 3}
    )
    errors = form_errors(too_many.status_code, too_many.json(), fields, EN)
    assert errors.fields == {} and "at most two solutions at once" in (errors.banner or "")
