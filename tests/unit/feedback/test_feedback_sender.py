"""The sender port: the resolved number travels with the message for one call, never in its repr."""

from __future__ import annotations

from uuid import uuid4

from services.feedback.sender import PURPOSES, OutboundMessage
from shared.contacts import CONTACT_PURPOSES
from shared.contracts.feedback import SurveyChannel


def test_the_number_is_left_out_of_the_message_repr() -> None:
    message = OutboundMessage(
        survey_id=uuid4(),
        branch_id="b001",
        channel=SurveyChannel.sms,
        customer_ref="cust_ref_0001",
        text="please rate us",
        phone="13812345678",
    )
    assert "13812345678" not in repr(message) and "13812345678" not in str(message)
    assert message.phone == "13812345678"


def test_every_channel_asks_the_vault_with_a_purpose_it_accepts() -> None:
    assert set(PURPOSES) == set(SurveyChannel)
    assert set(PURPOSES.values()) <= set(CONTACT_PURPOSES)
    assert PURPOSES[SurveyChannel.sms] == "survey_sms" and PURPOSES[SurveyChannel.phone] == "survey_call"
