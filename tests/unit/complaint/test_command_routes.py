"""The complaint commands are declared through ``shared.command_routes``: each keeps the path,
the action, the operationId and the body of the hand-written route it replaced, and the OpenAPI
document still describes each one fully (summary, body schema, ``If-Match``, ``x-action``)."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import FastAPI

from services.complaint.service import SERVICE
from shared.auth import AuthConfig, install_auth

#: step → (action, body required) as the hand-written routes had them
COMMANDS: dict[str, tuple[str, bool]] = {
    "accept": ("complaint.accept", True),
    "acknowledge": ("complaint.acknowledge", False),
    "answer": ("complaint.answer", True),
    "approve-extension": ("complaint.extension.approve", False),
    "assign": ("complaint.assign", True),
    "classify": ("complaint.classify", True),
    "close": ("complaint.close", True),
    "customer-left": ("complaint.customer_left", False),
    "decide-review": ("complaint.review.decide", True),
    "deny-extension": ("complaint.extension.approve", True),
    "escalate": ("complaint.escalate", True),
    "extend": ("complaint.extension.request", True),
    "hold": ("complaint.hold", True),
    "identify-staff": ("complaint.identify_staff", True),
    "implement": ("complaint.implement", True),
    "interim-response": ("complaint.interim_response", True),
    "merge": ("complaint.merge", True),
    "new-material": ("complaint.add_material", True),
    "progress-update": ("complaint.progress_update", True),
    "propose": ("complaint.propose", True),
    "reject": ("complaint.reject", True),
    "reopen": ("complaint.reopen", True),
    "request-extension": ("complaint.extension.request", True),
    "request-review": ("complaint.review.request", True),
    "resume": ("complaint.resume", False),
    "start-investigation": ("complaint.investigate", False),
}


def openapi() -> dict[str, Any]:
    app = FastAPI()
    for router in SERVICE.routers:
        app.include_router(router)
    install_auth(app, AuthConfig(secrets.token_bytes(32)))
    return app.openapi()


def test_every_command_route_keeps_its_path_action_operation_id_and_body() -> None:
    paths = openapi()["paths"]
    for step, (action, body_required) in COMMANDS.items():
        op = paths[f"/complaints/{{complaint_id}}/{step}"]["post"]
        name = step.replace("-", "_")
        assert op["operationId"] == f"{name}_complaints__complaint_id__{name}_post"
        assert op["x-action"] == action
        assert op["summary"] == name.replace("_", " ").title()
        assert op["requestBody"].get("required", False) is body_required
        assert {p["name"] for p in op["parameters"]} >= {"complaint_id", "if-match"}
        assert op["responses"]["200"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ComplaintView"
        }


def test_the_case_view_documents_the_steps_allowed_now() -> None:
    schemas = openapi()["components"]["schemas"]
    assert "allowed_steps" in schemas["ComplaintView"]["properties"]
    assert set(schemas["StepView"]["properties"]) == {"step", "allowed", "reason"}
