"""``python -m shared.devtokens``: dev mode only; tokens verify and carry the demo identities."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from shared.auth import DEV_JWT_SECRET, Principal, decode_token, is_allowed
from shared.devtokens import IDENTITIES, dev_secret, dev_tokens, main


def test_refuses_outside_dev_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BRANCHCARE_DEV_MODE", raising=False)
    with pytest.raises(SystemExit, match="BRANCHCARE_DEV_MODE=1"):
        main([])


def test_uses_the_configured_secret_else_the_dev_secret() -> None:
    assert dev_secret({"BRANCHCARE_DEV_MODE": "1"}) == DEV_JWT_SECRET
    custom = "c" * 40
    assert dev_secret({"BRANCHCARE_DEV_MODE": "1", "BRANCHCARE_JWT_SECRET": custom}) == custom


def test_tokens_are_valid_for_twelve_hours_and_match_the_demo_matrix() -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    tokens = dev_tokens(DEV_JWT_SECRET, now=now)
    people: dict[str, Principal] = {var: decode_token(tok, DEV_JWT_SECRET) for var, tok in tokens.items()}
    assert {p.staff_id for p in people.values()} == {i.staff_id for i in IDENTITIES}
    assert is_allowed(people["BC_TOKEN_LOBBY_B001"], "complaint.escalate", "b001")
    assert not is_allowed(people["BC_TOKEN_LOBBY_B002"], "complaint.escalate", "b001")
    assert is_allowed(people["BC_TOKEN_HQ"], "complaint.read", "b001")
    assert not is_allowed(people["BC_TOKEN_HQ"], "complaint.create", "b001")
    assert is_allowed(people["BC_TOKEN_ADMIN"], "pii.erase")
    assert is_allowed(people["BC_TOKEN_HEAD_B001"], "complaint.extension.approve", "b001")
    assert is_allowed(people["BC_TOKEN_COUNTER_B001"], "reception.visit.create", "b001")
    expired = dev_tokens(DEV_JWT_SECRET, now=now - timedelta(hours=12, minutes=1))
    with pytest.raises(Exception, match="expired"):
        decode_token(expired["BC_TOKEN_HQ"], DEV_JWT_SECRET)


def test_prints_shell_exports_and_curl_lines(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BRANCHCARE_DEV_MODE", "1")
    monkeypatch.delenv("BRANCHCARE_JWT_SECRET", raising=False)
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.count("export BC_TOKEN_") == len(IDENTITIES)
    assert "curl" in out and "Authorization: Bearer $BC_TOKEN_LOBBY_B001" in out
    assert "public development secret" in out


def test_json_output(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("BRANCHCARE_DEV_MODE", "1")
    monkeypatch.delenv("BRANCHCARE_JWT_SECRET", raising=False)
    assert main(["--json", "--ttl-hours", "1"]) == 0
    tokens = json.loads(capsys.readouterr().out)
    assert set(tokens) == {i.var for i in IDENTITIES}


def test_the_curl_lines_use_the_ports_in_use(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Moved ports (``<NAME>_PORT``, as for the dev runner) move the printed URLs too."""
    monkeypatch.setenv("BRANCHCARE_DEV_MODE", "1")
    monkeypatch.setenv("COMPLAINT_PORT", "18002")
    monkeypatch.setenv("HQ_PORT", "18005")
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "http://127.0.0.1:18002/branches/b001/complaints" in out and "http://127.0.0.1:18005/hq/" in out
    assert ":8002" not in out and ":8005" not in out
