"""The catalogue is data, validated on load; lines and materials resolve as documented."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from services.reception.catalogue import Catalogue, CatalogueError
from shared.contracts.reception import ServiceType
from shared.sla.policy import PolicyBook


def test_the_shipped_catalogue_serves_every_service_type() -> None:
    cat = Catalogue.load()
    for service_type in ServiceType:
        assert cat.line_for(service_type).name in cat.lines
        assert all(code in cat.materials for code in cat.required(service_type))
    assert cat.line_for(ServiceType.deposit_demand).ticket(12) == "A012"
    assert (
        cat.line_for(ServiceType.loan_application, relationship_manager=True).name == "relationship_manager"
    )
    assert cat.required(ServiceType.enquiry) == ()
    assert cat.max_rings == 3


def test_a_line_may_set_its_own_wait_target_and_breach() -> None:
    doc = _doc()
    doc["lines"]["vip"] = {"prefix": "V", "service_types": ["wealth_management"], "wait_target": "5m",
                           "wait_breach": "10m"}  # fmt: skip
    doc["lines"]["main"]["service_types"].remove("wealth_management")
    cat = Catalogue.from_dict(doc)
    base = PolicyBook.load().policy("reception.wait")
    assert base.duration == timedelta(minutes=30) and base.at_risk_fraction == 0.5
    vip = cat.wait_policy("vip", base)
    assert vip.duration == timedelta(minutes=10) and vip.at_risk_fraction == 0.5
    assert cat.wait_policy("main", base) == base


def _doc() -> dict[str, Any]:
    return {
        "lines": {"main": {"prefix": "A", "service_types": [t.value for t in ServiceType]}},
        "materials": {"id_card": "ID"},
        "requirements": {"transfer": ["id_card"]},
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["lines"]["main"]["service_types"].remove("other"), "no line serves"),
        (lambda d: d["lines"].update(b={"prefix": "A", "service_types": []}), "prefixes must be unique"),
        (lambda d: d["requirements"].update(transfer=["passport"]), "unknown materials"),
        (lambda d: d["lines"]["main"].update(prefix="a1"), "prefix"),
        (lambda d: d["lines"]["main"].update(colour="red"), "unknown settings"),
        (lambda d: d["lines"]["main"].update(wait_target="40m", wait_breach="30m"), "shorter"),
        (lambda d: d.update(phone={"max_rings": 0}), "max_rings"),
        (lambda d: d["lines"].update({f"l{i}": {"prefix": chr(66 + i)} for i in range(16)}), "1 to 16 lines"),
    ],
)
def test_a_broken_catalogue_fails_on_load(change: Any, message: str) -> None:
    doc = _doc()
    change(doc)
    with pytest.raises(CatalogueError, match=message):
        Catalogue.from_dict(doc)
