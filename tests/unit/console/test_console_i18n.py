"""The label table is complete: both languages, matching placeholders, every key the templates use,
and a label for every value the services' contracts can send."""

from __future__ import annotations

import re
import string
import tomllib
from enum import StrEnum
from pathlib import Path

import pytest

from services.complaint import domain as complaint_domain
from services.console.i18n import LANGS, MESSAGES, Translator, normalise_lang
from services.console.pages.complaints import HISTORY_KEYS
from services.console.pages.desk import VISIT_STEPS
from services.console.steps import STEP_ACTIONS
from services.followup.decider import TaskStatus
from services.hq.kpis import KPIS
from services.reception import decider as reception_domain
from shared.auth import ROLES
from shared.contracts.complaint import Category, Channel, HoldKind, Level, Nature, Outcome, Urgency
from shared.contracts.feedback import ReasonCategory, SurveyChannel
from shared.contracts.followup import TaskKind
from shared.contracts.reception import Accessibility, Priority, ServiceType
from shared.registry import REGISTRY

TEMPLATES = Path(__file__).resolve().parents[3] / "services" / "console" / "templates"
CATALOGUE = Path(__file__).resolve().parents[3] / "services" / "reception" / "catalogue.toml"
POLICIES = Path(__file__).resolve().parents[3] / "shared" / "sla" / "policies.toml"


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_entry_has_both_languages_with_the_same_placeholders() -> None:
    assert LANGS == ("zh", "en")
    for key, texts in MESSAGES.items():
        assert len(texts) == 2, key
        zh, en = texts
        assert zh.strip() and en.strip(), f"{key} is empty in one language"
        assert _fields(zh) == _fields(en), f"{key}: placeholders differ {_fields(zh)} vs {_fields(en)}"


def test_chinese_labels_are_chinese() -> None:
    """Guard against an entry left in English on the Chinese side (codes and symbols excepted)."""
    han = re.compile(r"[\u4e00-\u9fff]")
    exceptions = {"nav.language", "visit_status.none", "complaint_status.none", "task_status.none"}
    missing = [k for k, (zh, _) in MESSAGES.items() if k not in exceptions and not han.search(zh)]
    assert missing == [], f"no Chinese in: {missing}"


def test_every_key_a_template_names_exists() -> None:
    literal = re.compile(r"""\bt\(\s*'([a-z_.\-]+[a-z_\-])'""")  # not the prefixes of 'step.' ~ s
    used: set[str] = set()
    for path in TEMPLATES.glob("*.html"):
        used |= set(literal.findall(path.read_text(encoding="utf-8")))
    assert used, "no t('...') calls found: the pattern is stale"
    assert sorted(used - set(MESSAGES)) == []


def test_every_key_the_python_pages_name_exists() -> None:
    root = TEMPLATES.parent
    literal = re.compile(r"""\bt\(\s*"([a-z_.\-]+)\"""")
    used: set[str] = set()
    for path in root.rglob("*.py"):
        used |= set(literal.findall(path.read_text(encoding="utf-8")))
    assert used
    assert sorted(used - set(MESSAGES)) == []


ENUMS: list[tuple[str, type[StrEnum]]] = [
    ("service_type", ServiceType),
    ("accessibility", Accessibility),
    ("priority", Priority),
    ("visit_status", reception_domain.Status),
    ("channel", Channel),
    ("category", Category),
    ("nature", Nature),
    ("urgency", Urgency),
    ("level", Level),
    ("outcome", Outcome),
    ("hold_kind", HoldKind),
    ("complaint_status", complaint_domain.Status),
    ("solution_status", complaint_domain.SolutionStatus),
    ("task_kind", TaskKind),
    ("task_status", TaskStatus),
    ("survey_channel", SurveyChannel),
    ("reason", ReasonCategory),
]


@pytest.mark.parametrize(("kind", "enum"), ENUMS, ids=[k for k, _ in ENUMS])
def test_every_contract_value_has_a_label(kind: str, enum: type[StrEnum]) -> None:
    missing = [m.value for m in enum if f"{kind}.{m.value}" not in MESSAGES]
    assert missing == [], f"no {kind} label for {missing}"


def test_every_event_of_the_shared_contracts_has_a_label_for_the_history_pages() -> None:
    import shared.contracts.complaint
    import shared.contracts.feedback
    import shared.contracts.followup
    import shared.contracts.reception
    import shared.contracts.sla  # noqa: F401  (importing registers the events)

    modules = ("complaint", "feedback", "followup", "reception", "sla")
    types = {
        name
        for name, model in REGISTRY._models.items()
        if model.__module__.removeprefix("shared.contracts.").split(".")[0] in modules
    }
    assert len(types) > 40
    missing = sorted(t for t in types if f"event.{t}" not in MESSAGES)
    assert missing == [], f"no label for events {missing}"


def test_steps_kpis_roles_slas_lines_and_materials_have_labels() -> None:
    needed = (
        [f"step.{s}" for s in STEP_ACTIONS]
        + [f"visit_step.{s}" for s in VISIT_STEPS]
        + [f"field.{k}" for k in HISTORY_KEYS]
        + [f"kpi.{k}" for k in KPIS]
        + [f"role.{r}" for r in ROLES]
        + [f"sla.{s}" for s in ("on_track", "at_risk", "breached", "paused", "met", "cancelled")]
    )
    policies = tomllib.loads(POLICIES.read_text(encoding="utf-8"))
    needed += [f"sla_name.{name}" for name in policies["sla"]]
    catalogue = tomllib.loads(CATALOGUE.read_text(encoding="utf-8"))
    needed += [f"line.{name}" for name in catalogue["lines"]]
    needed += [f"material.{code}" for code in catalogue["materials"]]
    assert sorted(k for k in needed if k not in MESSAGES) == []


def test_translator_formats_falls_back_and_labels() -> None:
    zh, en = Translator("zh"), Translator("en")
    assert zh("lobby.title", branch="b001") == "大堂看板 · b001"
    assert en("lobby.title", branch="b001") == "Lobby board · b001"
    assert en("no.such.key") == "no.such.key"  # visible in review, never a crash
    assert en.label("service_type", "withdrawal") == "Withdrawal"
    assert zh.label("category", "brand_new_category") == "brand_new_category"
    assert zh.label("category", None) == "—"
    assert normalise_lang("zh-CN") == "zh" and normalise_lang("en_GB") == "en"
    assert normalise_lang("fr") is None and normalise_lang(None) is None
