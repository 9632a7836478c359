"""Issue 7's fuzz test: malformed input at every route of every service's OpenAPI spec, with a
valid token that may use the route — no 5xx ever, and a 4xx changes nothing.

For each operation of ``/openapi.json`` (its ``x-action`` says who may call it), hypothesis
draws path values (mostly the seeded resources of branch A, else junk: unicode, ``..``, NUL,
huge numbers), query values (declared ones and unknown ones, well- or ill-typed), a body (the
schema's fields with wrong types, missing or unknown ones, any JSON, NaN, invalid bytes, the
wrong content type) and odd ``If-Match`` / ``X-Correlation-Id`` / ``Idempotency-Key`` headers.
Each request is sent over real HTTP to the real app (real PostgreSQL, real broker); after a 4xx
the service's state fingerprint (``seeds.FINGERPRINT_SQL``) must be unchanged.

Hypothesis is synchronous: it runs in a worker thread with a blocking client while the app keeps
serving in the test's event loop. ``FUZZ_EXAMPLES`` (default 12) bounds the examples per route.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.auth import ACTIONS, HQ_ROLES, Scope
from shared.gateway_identity import GATEWAY_ACTIONS, gateway_key, issue_gateway_token
from shared.service_identity import SERVICE_ACTIONS, issue_service_token, service_key
from tests.integration.security.seeds import (
    SERVICES,
    broker_for,
    fingerprint,
    quiet_background,
    seeded,
)
from tests.support.auth import BRANCH_ROLES, secret, staff_token
from tests.support.harness import Running

pytestmark = [
    pytest.mark.integration,
    # the app serves from this process: its libraries touch `random` while hypothesis draws
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
METHODS = ("get", "post", "put", "patch", "delete")

_ascii = st.characters(min_codepoint=32, max_codepoint=126)
junk_text = st.one_of(
    st.text(max_size=40),
    st.text(_ascii, max_size=12),
    st.sampled_from(["", " ", "..", "../..", "%00", "\x00", "null", "-1", "0", "1e309", "9" * 40, "ä" * 300]),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    junk_text,
)
any_json = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(_ascii, max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)


def resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """Follow ``$ref`` / a single ``allOf`` / ``anyOf`` with null to the schema itself."""
    for _ in range(5):
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            schema = spec["components"]["schemas"][name]
        elif len(schema.get("allOf", [])) == 1:
            schema = schema["allOf"][0]
        elif "anyOf" in schema:
            options = [s for s in schema["anyOf"] if s.get("type") != "null"]
            schema = options[0] if options else {}
        else:
            break
    return schema


def parameter(param: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """An operation's parameter, following a ``$ref`` to ``components.parameters``."""
    if "$ref" in param:
        found: dict[str, Any] = spec["components"]["parameters"][param["$ref"].rsplit("/", 1)[-1]]
        return found
    return param


def typed(schema: dict[str, Any], spec: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A plausible value for ``schema`` (mostly in range, sometimes at or past its limits)."""
    schema = resolve(schema, spec)
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "string":
        top = int(schema.get("maxLength", 60)) + 5
        return st.one_of(
            st.text(max_size=min(top, 200)), st.sampled_from(["2026-03-02", "2026-03-02T10:00:00"])
        )
    if kind == "integer":
        return st.integers(min_value=-5, max_value=int(schema.get("maximum", 1000)) + 5)
    if kind == "number":
        return st.floats(min_value=-10, max_value=10**7)
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        return st.lists(typed(schema.get("items", {}), spec) | json_scalars, max_size=3)
    return any_json


def body_strategy(operation: dict[str, Any], spec: dict[str, Any]) -> st.SearchStrategy[tuple[bytes, str]]:
    """(raw body, content type): the schema's fields with good and bad values, any JSON, junk."""
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    fields: dict[str, st.SearchStrategy[Any]] = {}
    if content is not None:
        schema = resolve(content.get("schema", {}), spec)
        for name, prop in schema.get("properties", {}).items():
            fields[name] = typed(prop, spec) | json_scalars
    shaped = st.fixed_dictionaries({}, optional=fields) if fields else st.just({})
    extra = st.dictionaries(st.sampled_from(["actor", "staff_id", "branch_id", "x", "__proto__"]), any_json)
    documents = st.one_of(shaped, st.builds(lambda a, b: {**a, **b}, shaped, extra), any_json)
    encoded = documents.map(lambda doc: (json.dumps(doc, allow_nan=True).encode(), "application/json"))
    broken = st.one_of(
        st.binary(max_size=64).map(lambda raw: (raw, "application/json")),
        st.just((b'{"a": ' * 200, "application/json")),
        st.just((b"score=5", "application/x-www-form-urlencoded")),
        st.just((b"", "application/json")),
    )
    return st.one_of(encoded, encoded, broken)


def request_strategy(
    svc: Running, path: str, method: str, operation: dict[str, Any], spec: dict[str, Any]
) -> st.SearchStrategy[dict[str, Any]]:
    params = [parameter(p, spec) for p in operation.get("parameters", [])]
    path_values = {
        p["name"]: st.one_of(
            st.just(svc.params.get(p["name"], "x")), st.just(svc.params.get(p["name"], "x")), junk_text
        )
        for p in params
        if p["in"] == "path"
    }
    query_values = {
        p["name"]: typed(p.get("schema", {}), spec).map(str) | junk_text for p in params if p["in"] == "query"
    }
    header_text = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=60)
    headers = {
        "If-Match": header_text | st.sampled_from(['"1"', 'W/"2"', '"99999999999999999999"', '"-1"']),
        "X-Correlation-Id": header_text | st.uuids().map(str),
        "Idempotency-Key": header_text | st.uuids().map(str),
    }
    has_body = method in ("post", "put", "patch")
    return st.fixed_dictionaries(
        {
            "path": st.fixed_dictionaries(path_values),
            "query": st.fixed_dictionaries({}, optional={**query_values, "unknown": junk_text}),
            "headers": st.fixed_dictionaries({}, optional=headers),
            "body": body_strategy(operation, spec) if has_body else st.none(),
        }
    )


def token_for(action: str, svc: Running) -> str:
    """A token that may use the route, so the input reaches the route itself."""
    if action in SERVICE_ACTIONS:
        return issue_service_token(sorted(SERVICE_ACTIONS[action])[0], service_key(secret()))
    spec = ACTIONS[action]
    if not spec.roles and action in GATEWAY_ACTIONS:  # a delivery report: the gateway's alone
        return issue_gateway_token("fuzz-gateway", gateway_key(secret()), [svc.params["branch_id"]])
    if spec.scope is Scope.GLOBAL or not spec.roles & set(BRANCH_ROLES):
        role = sorted(spec.roles & HQ_ROLES)[0]
        return staff_token(f"fuzz-{role}", [role], ["*"])
    return staff_token("fuzz-staff", sorted(BRANCH_ROLES), [svc.params["branch_id"]])


def fuzz_operation(
    svc: Running,
    loop: asyncio.AbstractEventLoop,
    http: httpx.Client,
    template: str,
    method: str,
    operation: dict[str, Any],
    spec: dict[str, Any],
    problems: list[str],
    statuses: Counter[int],
) -> None:
    """Runs in a worker thread; counts the answers in ``statuses``."""
    token = token_for(operation["x-action"], svc)

    def current_state() -> str:
        return asyncio.run_coroutine_threadsafe(fingerprint(svc), loop).result(timeout=15)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
    @given(request_strategy(svc, template, method, operation, spec))
    def check(case: dict[str, Any]) -> None:
        path = template
        for name, value in case["path"].items():
            path = path.replace("{" + name + "}", quote(str(value), safe="") or "%20")
        headers = {"Authorization": f"Bearer {token}", **case["headers"]}
        content = None
        if case["body"] is not None:
            content, headers["Content-Type"] = case["body"]
        before = current_state()
        response = http.request(method.upper(), path, params=case["query"], headers=headers, content=content)
        statuses[response.status_code] += 1
        where = f"{method.upper()} {template} -> {response.status_code} for {case!r:.300}"
        assert response.status_code < 500, f"{where}: {response.text[:300]}"
        if 400 <= response.status_code < 500:
            assert current_state() == before, f"{where}: a refused request changed the state"

    try:
        check()
    except AssertionError as exc:
        problems.append(str(exc).splitlines()[0][:600])


@pytest.mark.parametrize("name", SERVICES)
async def test_malformed_input_never_5xx_and_a_4xx_changes_nothing(
    name: str, database_url: str, kafka: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    quiet_background(monkeypatch)
    async with (
        broker_for(name, kafka.bootstrap_servers) as bootstrap,
        seeded(name, database_url, bootstrap) as svc,
    ):
        spec = (await svc.http.get("/openapi.json")).json()
        operations = [
            (path, method, operation)
            for path, item in sorted(spec["paths"].items())
            for method, operation in item.items()
            if method in METHODS and "x-action" in operation
        ]
        assert operations
        loop = asyncio.get_running_loop()
        problems: list[str] = []
        statuses: Counter[int] = Counter()

        def fuzz_all() -> None:
            with httpx.Client(base_url=svc.url, timeout=15) as http:
                for path, method, operation in operations:
                    fuzz_operation(svc, loop, http, path, method, operation, spec, problems, statuses)

        await asyncio.to_thread(fuzz_all)
    print(
        f"{name}: {sum(statuses.values())} requests on {len(operations)} routes: {sorted(statuses.items())}"
    )
    assert not problems, f"{len(problems)} of {len(operations)} routes failed:\n" + "\n".join(problems)
    assert sum(statuses.values()) >= len(operations)
    # the input reached the routes themselves, not only the validation in front of them
    assert any(200 <= status < 300 for status in statuses), statuses
