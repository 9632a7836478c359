"""Round trips of feedback's hottest command, a survey's answer, counted on the service's pool
(``shared.db_statements``; see ``tests/integration/complaint/test_round_trips.py``).

Budget: the survey's load (also the branch check) on its own checkout, then one statement with
the events, the facts row, the window deadline (ended unread, ``Deadlines.end_later``) and the
audit row, without BEGIN and COMMIT (``shared.one_statement``): 2, a comment too (it is sealed
with the customer's text key, read with the survey's load, and the answer shows it from the
command's batch, not read back); an ``Idempotency-Key`` keeps a transaction for its claim (the load,
BEGIN, the key's row inserted, the one statement, COMMIT: 5).
Before ``after_change`` (issue 19) the facts row, the deadline's read and its update were
statements of their own; until the window ended unread, its read was one more; until the answer
went as one statement, BEGIN and COMMIT were two more and a comment was read back (4, 5).

The survey-creating reaction (a batch of one served visit, ``shared.reactions``): BEGIN, the
progress rows' insert and lock, the batch's channel preferences, every touched stream's load, one
statement with the facts and dispatch rows, the window, the append and the progress record,
COMMIT: 7 (10 when each reaction was a savepoint of its own).
"""

from __future__ import annotations

from typing import Any

import pytest

from services.feedback.config import FeedbackConfig
from shared import db_statements
from tests.integration.feedback.steps import answer_survey, branch, wait_survey
from tests.integration.feedback.test_feedback_service import serve
from tests.support.harness import Running, running
from tests.support.round_trips import INTROSPECTION, own_statements

pytestmark = pytest.mark.integration


async def _counted(svc: Running, survey_id: str, body: dict[str, Any]) -> list[str]:
    return await own_statements(lambda: answer_survey(svc, survey_id, body), 201, f"answer {body}")


async def test_answering_a_survey_stays_within_its_round_trips(database_url: str, kafka: Any) -> None:
    bootstrap = kafka.bootstrap_servers
    b = branch()
    quiet = FeedbackConfig(dispatch_period=3600)  # sent below, not while the answers are counted
    async with running("feedback", database_url, bootstrap, config=quiet) as svc:
        svc.auth.allow(b)
        subjects = [(await serve(bootstrap, b, staff_id=f"teller-{n}"))[1] for n in range(7)]
        for subject in subjects:
            await wait_survey(svc, subject)
        await svc.parts.dispatcher.tick()
        surveys = [await wait_survey(svc, subject, "sent") for subject in subjects]
        ids = [s["survey_id"] for s in surveys]
        for n, survey_id in enumerate(ids[:4]):  # prepare the statements on the reused connections
            await answer_survey(svc, survey_id, {"score": 5, "comment": "快"} if n % 2 else {"score": 4})

        # survey creation: a served visit's survey, requested in the consumer's transaction
        with db_statements.counting() as tally:
            await wait_survey(svc, (await serve(bootstrap, b, staff_id="teller-9"))[1])
            await tally.settled(0.3)
        [part] = [part for part in tally.parts() if any("INSERT INTO survey_facts" in s for s in part)]
        request = [s for s in part if not any(m in s for m in INTROSPECTION)]
        print(f"\nsurvey-creating reaction: {len(request)} round trips", *request, sep="\n  ")

        plain = await _counted(svc, ids[4], {"score": 5})
        with_comment = await _counted(svc, ids[5], {"score": 4, "comment": "快，专业"})
        # with an Idempotency-Key: its row inserted is the claim (one statement more)
        keyed = await own_statements(
            lambda: svc.http.post(
                f"/surveys/{ids[6]}/responses", json={"score": 5}, headers={"Idempotency-Key": "answer-key-1"}
            ),
            201,
            "keyed answer",
        )

    assert len(request) <= 7, request
    assert len(plain) <= 2, plain
    assert len(with_comment) <= 2, with_comment
    assert len(keyed) <= 5, keyed
