"""Customers answering the satisfaction surveys feedback sends them (after a visit or a closed
complaint), through the SMS gateway's webhook.

The simulator plays the gateway: it looks at the branch's surveys still waiting for an answer
(``GET /branches/{b}/surveys?answered=false``) — those of this run and any left by an earlier one
— and each customer answers once, or never, as decided the first time the survey is seen. A survey
answered or expired meanwhile (409 / 410) is a conflict: the customer was too late.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from services.simulator import model
from services.simulator.rounds import Listing, Round
from services.simulator.tokens import GATEWAY

if TYPE_CHECKING:
    from services.simulator.engine import Branch

#: the gateway's view of pending surveys is refreshed this often (simulated minutes)
LIST_MINUTES = 20.0
#: a customer answers this long after the survey is seen (simulated minutes)
ANSWER_AFTER = (2.0, 60.0)
_PENDING = ("requested", "sent")


class Surveys(Round):
    listing = Listing(
        LIST_MINUTES,
        "surveys",
        "feedback",
        "/branches/{b}/surveys",
        {"answered": "false", "limit": 200},
        "surveys",
    )

    def see(self, branch: Branch, survey: dict[str, Any]) -> None:
        """A pending survey seen for the first time: its customer answers (later), or never."""
        survey_id = str(survey["survey_id"])
        if survey.get("status") not in _PENDING or survey_id in branch.surveys_seen:
            return
        branch.surveys_seen.add(survey_id)
        if self.sim.rng.random() < self.sim.config.tuning.survey_response_share:
            delay = self.sim.rng.uniform(*ANSWER_AFTER)
            self.sim.schedule(delay, "survey", partial(self.answer, branch, survey_id))

    async def answer(self, branch: Branch, survey_id: str) -> None:
        score = model.score(self.sim.rng)
        body: dict[str, Any] = {"score": score}
        if score <= 2:
            body["comment"] = "waited too long and nobody explained why"
            body["reasons"] = ["waiting_time"]
        gateway = self.api.acting(GATEWAY, branch.branch_id)
        r = await gateway.post("feedback", "/surveys/{s}/responses", body, expected=(409, 410), s=survey_id)
        if r is None:
            return
        if r.status_code == 201:
            self.sim.stats.done["surveys"] += 1
        elif r.status_code in (409, 410):  # answered already, or the 72 h window closed
            self.api.conflict("survey answered or expired meanwhile")
