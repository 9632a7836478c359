"""The comment rules: the keyword rules, Chinese and English (masking is the shared policy)."""

from __future__ import annotations

from uuid import uuid4

import pytest

from services.feedback.comments import assess
from services.feedback.sender import survey_text
from shared.contracts.feedback import SurveyChannel
from shared.pii import scrub_text


def test_numbers_in_a_comment_follow_the_one_masking_policy() -> None:
    """Feedback masks no longer by a policy of its own: the comment is stored through shared.texts,
    which masks with shared.pii.scrub_text (numbers of 7+ digits keep their last four)."""
    assert scrub_text("call 138 1234 5678, waited 45 minutes") == "call *** **** 5678, waited 45 minutes"


@pytest.mark.parametrize(
    "comment",
    [
        "The teller was rude",
        "waited too long in a long queue",
        "The ATM was broken",
        "they overcharged me",
        "柜员态度差",
        "排队太久了，效率低",
        "ATM吞卡了",
        "收费不合理",
        "问题还是没解决",
        "非常失望",
    ],
)
def test_comments_naming_a_problem(comment: str) -> None:
    verdict = assess(5, comment)
    assert verdict.names_problem and verdict.negative and verdict.matched


@pytest.mark.parametrize(
    "comment",
    [
        "",
        "Great service, thank you!",
        "No problem at all, very quick",
        "not bad",
        "nothing wrong, solved my problem quickly",
        "服务很好，谢谢",
        "没问题，很满意",
        "还不错",
        "慢走，欢迎再来",  # "take care" — not "slow"
        "麻烦您了，谢谢",  # politeness — not "troublesome"
        "Sue at the counter was great",
    ],
)
def test_comments_without_a_problem(comment: str) -> None:
    verdict = assess(5, comment)
    assert not verdict.names_problem and not verdict.negative and not verdict.describes_complaint


@pytest.mark.parametrize(
    "comment",
    [
        "I want to complain about the fees",
        "I will file a complaint with the regulator",
        "I want a refund",
        "我要投诉",
        "打12378举报你们",
        "钱没到账，要求赔偿",
        "卡被盗刷了",
    ],
)
def test_comments_describing_a_complaint(comment: str) -> None:
    verdict = assess(4, comment)
    assert verdict.describes_complaint and verdict.negative


@pytest.mark.parametrize(("score", "negative"), [(1, True), (2, True), (3, False), (4, False), (5, False)])
def test_score_threshold(score: int, negative: bool) -> None:
    verdict = assess(score, "")
    assert verdict.negative is negative and not verdict.describes_complaint


def test_a_low_score_alone_does_not_describe_a_complaint() -> None:
    assert not assess(1, "slow").describes_complaint


def test_matching_is_case_insensitive_whole_words() -> None:
    assert assess(5, "RUDE staff").names_problem
    assert not assess(5, "badminton club").names_problem  # "bad" inside another word


@pytest.mark.parametrize("channel", list(SurveyChannel))
def test_survey_text_names_no_customer_and_states_the_window(channel: SurveyChannel) -> None:
    text = survey_text("visit", channel, uuid4(), "【某银行】", 72)
    assert text.startswith("【某银行】") and "1" in text and "5" in text
    if channel is SurveyChannel.sms:
        assert "72小时" in text and "72 h" in text
    assert "投诉" in survey_text("complaint", channel, uuid4(), "", 72)
