"""shared/SECURITY.md shows the permission table exactly as the code defines it."""

from __future__ import annotations

from pathlib import Path

from shared.auth import ACTIONS, Role

DOC = Path(__file__).resolve().parents[3] / "shared" / "SECURITY.md"
COLUMNS = (Role.COUNTER_STAFF, Role.LOBBY_MANAGER, Role.BRANCH_HEAD, Role.HQ_ANALYST, Role.ADMIN)


def render_table() -> str:
    lines = [
        "| action | kind | scope | counter | lobby | head | hq | admin | route(s) |",
        "|---|---|---|:-:|:-:|:-:|:-:|:-:|---|",
    ]
    for spec in ACTIONS.values():
        marks = " | ".join("✓" if role in spec.roles else "" for role in COLUMNS)
        route = spec.description.replace("|", "\\|")
        lines.append(f"| `{spec.name}` | {spec.kind} | {spec.scope} | {marks} | {route} |")
    return "\n".join(lines)


def test_the_doc_table_is_the_code_table() -> None:
    hint = "regenerate with: python -m tests.unit.security.test_security_doc"
    assert render_table() in DOC.read_text(), hint


if __name__ == "__main__":
    print(render_table())
