"""Given / when / then helpers for the regulatory profiles (pure: no infrastructure).

Calendars: ``cn`` (Asia/Shanghai, the 2026 National Day week and its 调休 Sundays), ``uk``
(Europe/London, 2026 bank holidays incl. Easter), ``us`` (America/New_York). The same TOML is
written as ``SLA_POLICIES_FILE`` by the integration tests, with branches mapped to the calendars.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from services.complaint import domain as d
from services.complaint.regclocks import ClockMath, RegClock
from services.complaint.regulation import Regulation
from shared.contracts.complaint import Category, Channel, Nature, Urgency
from shared.decider import DomainError
from shared.registry import EventData
from shared.sla.policy import DEFAULT_FILE, PolicyBook
from tests.support.decider import Scenario, given
from tests.support.texts import ref

CN_BRANCH = "cn-sh-001"
UK_BRANCH = "uk-ldn-001"
US_BRANCH = "us-nyc-001"
BRANCH_PROFILES = {"uk-*": "uk-fca", "us-*": "us-cfpb"}

CALENDARS = """
[calendars.cn]
timezone = "Asia/Shanghai"
mon = ["09:00-17:00"]
tue = ["09:00-17:00"]
wed = ["09:00-17:00"]
thu = ["09:00-17:00"]
fri = ["09:00-17:00"]
sat = ["09:00-12:00"]
holidays = ["2026-10-01", "2026-10-02", "2026-10-05", "2026-10-06", "2026-10-07"]
extra_working_days = ["2026-09-27", "2026-10-10"]

[calendars.uk]
timezone = "Europe/London"
mon = ["09:00-17:30"]
tue = ["09:00-17:30"]
wed = ["09:00-17:30"]
thu = ["09:00-17:30"]
fri = ["09:00-17:30"]
sat = ["09:00-12:00"]
# England and Wales, 2026: Good Friday, Easter Monday, early May, spring, summer, Christmas, Boxing Day (sub)
holidays = ["2026-04-03", "2026-04-06", "2026-05-04", "2026-05-25", "2026-08-31", "2026-12-25", "2026-12-28",
            "2027-01-01"]

[calendars.us]
timezone = "America/New_York"
mon = ["09:00-17:00"]
tue = ["09:00-17:00"]
wed = ["09:00-17:00"]
thu = ["09:00-17:00"]
fri = ["09:00-17:00"]
holidays = ["2026-11-26", "2026-12-25"]

[branches.cn-sh-001]
calendar = "cn"
[branches.uk-ldn-001]
calendar = "uk"
[branches.uk-man-002]
calendar = "uk"
[branches.us-nyc-001]
calendar = "us"
"""


def policies_toml() -> str:
    """The shipped policies plus the test calendars and branches."""
    return DEFAULT_FILE.read_text(encoding="utf-8") + CALENDARS


BOOK = PolicyBook.from_dict(tomllib.loads(policies_toml()))
REGULATION = Regulation.load(BOOK, branch_profiles=BRANCH_PROFILES)
MATH = ClockMath(REGULATION)
CID = UUID("00000000-0000-4000-8000-0000000c0de8")

SHANGHAI = ZoneInfo("Asia/Shanghai")
LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")


def local(tz: ZoneInfo, y: int, m: int, day: int, h: int = 10, minute: int = 0) -> datetime:
    """A local wall-clock time, as an aware UTC datetime."""
    return datetime(y, m, day, h, minute, tzinfo=tz).astimezone(UTC)


def end_of(tz: ZoneInfo, day: date) -> datetime:
    """Local midnight closing ``day`` (24:00), in UTC."""
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=tz).astimezone(UTC)


class Case:
    """A case under a profile, run through the pure decider (``tests.support.decider``), kept as
    the scenario so far: for the date-heavy regulatory tests that walk one case through many
    steps, ``run`` records and ``refused`` is ``then_raises`` on the same case."""

    def __init__(self, branch: str = CN_BRANCH, rules: d.ComplaintRules = d.DEFAULT_RULES) -> None:
        self.branch = branch
        self.decider = d.make_decider(rules, REGULATION)
        self.scenario: Scenario[d.Command, d.Complaint] = given(self.decider)

    @property
    def state(self) -> d.Complaint:
        return self.scenario.state

    @property
    def events(self) -> list[EventData]:
        return list(self.scenario.history)

    @classmethod
    def received(
        cls, at: datetime, branch: str = CN_BRANCH, channel: Channel = Channel.web, **kw: object
    ) -> Case:
        case = cls(branch)
        profile = REGULATION.profile_for_branch(branch).name
        calendar = BOOK.branch_calendars.get(branch, BOOK.default_calendar)
        args: dict[str, object] = {
            "complaint_id": CID,
            "channel": channel,
            "customer_ref": "cust_ref_0001",
            "description": ref("the fee was charged twice"),
            "received_at": at,
            "profile": profile,
            "calendar": calendar,
        }
        args.update(kw)
        case.run(d.ReceiveComplaint(**args))  # type: ignore[arg-type]
        return case

    def run(self, *commands: d.Command) -> Sequence[EventData]:
        """Record ``commands``; a refusal raises the decider's DomainError."""
        when = self.scenario.when(*commands)
        if when.error is not None:
            raise when.error
        self.scenario = when.then(*(type(e) for e in when.events))
        return when.events

    def refused(self, command: d.Command, reason: str) -> DomainError:
        when = self.scenario.when(command)
        when.then_raises(re.escape(reason))
        assert when.error is not None
        return when.error

    def clock(self, sla: str = d.REGULATORY_SLA) -> RegClock:
        clock = self.state.clocks.get(sla)
        assert clock is not None, f"no {sla} clock"
        return clock

    def due(self, sla: str = d.REGULATORY_SLA) -> datetime:
        return MATH.due(self.clock(sla))

    def walk_to_investigating(self, at: datetime, nature: Nature = Nature.general) -> None:
        self.run(
            d.Acknowledge(at, ref("sorry")),
            d.Classify(at, Category.fees_and_information_transparency, nature, "web", Urgency.normal),
            d.StartInvestigation(at),
        )


def request_id() -> UUID:
    return uuid4()
