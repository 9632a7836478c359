"""No module of services/hq names a branch domain topic or imports a branch context's contract,
and HQ's projection subscribes to the contract topic alone."""

from __future__ import annotations

import ast
from pathlib import Path

from services.hq.projections import TOPICS
from shared.topology import events_topic

HQ = Path(__file__).resolve().parents[3] / "services" / "hq"
BRANCH_CONTEXTS = ("reception", "complaint", "followup", "feedback")


def test_hq_subscribes_to_the_contract_topic_only() -> None:
    assert TOPICS == (events_topic("hqfeed"),)


def test_no_hq_module_names_a_branch_topic_or_imports_a_branch_contract() -> None:
    for path in HQ.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        for context in BRANCH_CONTEXTS:
            assert f"{context}.events.v1" not in source, f"{path.name} names {context}.events.v1"
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            else:
                continue
            for module in modules:
                for context in BRANCH_CONTEXTS:
                    assert not module.startswith(f"shared.contracts.{context}"), (
                        f"{path.name} imports {module}"
                    )
                    assert not module.startswith(f"services.{context}"), f"{path.name} imports {module}"
                assert module != "shared.projection._Item", path.name
            if isinstance(node, ast.ImportFrom) and node.module == "shared.projection":
                assert all(not a.name.startswith("_") for a in node.names), (
                    f"{path.name} imports a private name"
                )
