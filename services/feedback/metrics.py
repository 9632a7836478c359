"""Feedback metrics. Labels are bounded (channel, subject type, service type) — never a branch,
survey or customer: per-branch satisfaction lives in the read model and at HQ."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from shared.contracts.feedback import DeliveryFailure, SurveyChannel
from shared.metrics import SLA_BREACHES

SURVEYS_REQUESTED = Counter(
    "branchcare_feedback_surveys_requested_total", "Surveys requested", ["subject_type", "channel"]
)
SURVEYS_SKIPPED = Counter(
    "branchcare_feedback_surveys_skipped_total",
    "Served visits or closed complaints that got no survey (or whose survey could not be sent), by reason",
    ["reason"],
)
SURVEYS_SENT = Counter("branchcare_feedback_surveys_sent_total", "Surveys handed to the gateway", ["channel"])
SEND_FAILURES = Counter(
    "branchcare_feedback_send_failures_total", "Gateway sends that failed (retried)", ["channel"]
)
SURVEYS_GIVEN_UP = Counter(
    "branchcare_feedback_surveys_given_up_total",
    "Surveys that never reached the customer and were given up, by reason (left out of the response rate)",
    ["reason"],
)
SURVEYS_ANSWERED = Counter("branchcare_feedback_surveys_answered_total", "Surveys answered", ["subject_type"])
SURVEYS_EXPIRED = Counter(
    "branchcare_feedback_surveys_expired_total",
    "Surveys whose answer window closed unanswered",
    ["subject_type"],
)
NEGATIVE_FEEDBACK = Counter(
    "branchcare_feedback_negative_total",
    "Answers that were negative (score ≤ 2 or a problem named)",
    ["describes_complaint"],
)
SATISFACTION = Gauge(
    "branchcare_feedback_satisfaction_ratio",
    "Share of 4–5 scores over the gauge window, all branches together, by service type ('all' = every one)",
    ["service_type"],
)
CSAT = Gauge(
    "branchcare_feedback_csat_average",
    "Average score (1–5) over the gauge window, all branches together, by service type",
    ["service_type"],
)


def precreate() -> None:
    """Create every counter's label sets at 0, so rate()/increase() see the first increment."""
    for subject_type in ("visit", "complaint"):
        for channel in SurveyChannel:
            SURVEYS_REQUESTED.labels(subject_type, channel.value)
        SURVEYS_ANSWERED.labels(subject_type)
        SURVEYS_EXPIRED.labels(subject_type)
    for channel in SurveyChannel:
        SURVEYS_SENT.labels(channel.value)
        SEND_FAILURES.labels(channel.value)
    for reason in ("anonymous", "complaint_visit", "unknown_complainant", "no_contact"):
        SURVEYS_SKIPPED.labels(reason)
    for failure in DeliveryFailure:
        SURVEYS_GIVEN_UP.labels(failure.value)
    for flag in ("true", "false"):
        NEGATIVE_FEEDBACK.labels(flag)
    SLA_BREACHES.labels("feedback", "feedback.survey_window")
