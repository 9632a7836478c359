"""Feedback settings from the environment (``FEEDBACK_*``, read by :class:`FeedbackSettings`);
tests pass a :class:`FeedbackConfig`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.contracts.feedback import SurveyChannel


@dataclass(frozen=True)
class FeedbackConfig:
    #: ``FEEDBACK_SURVEY_CHANNEL``: sms or phone, for branches and customers without a preference
    default_channel: SurveyChannel = SurveyChannel.sms
    #: ``FEEDBACK_BRANCH_CHANNELS``: per-branch override, e.g. ``b001=phone,b002=sms``
    branch_channels: Mapping[str, SurveyChannel] = field(default_factory=dict)
    #: ``FEEDBACK_SATISFACTION_TARGET``: the branch target share of 4–5 scores
    satisfaction_target: float = 0.95
    #: ``FEEDBACK_SMS_SIGNATURE``: the sender signature SMS regulation requires, e.g. 【某某银行】
    signature: str = "【BranchCare】"
    #: ``FEEDBACK_DISPATCH_PERIOD``: seconds between sender rounds
    dispatch_period: float = 0.5
    #: ``FEEDBACK_MAX_SEND_ATTEMPTS``: a survey the gateway refuses this often is given up
    max_send_attempts: int = 8
    #: ``FEEDBACK_GAUGE_WINDOW_DAYS``: the satisfaction gauges cover answers of these last days
    gauge_window_days: int = 7

    def channel_for(self, branch_id: str, preference: SurveyChannel | None) -> SurveyChannel:
        """The customer's preference, else the branch's configured channel, else the default."""
        return preference or self.branch_channels.get(branch_id) or self.default_channel

    @classmethod
    def from_env(cls) -> FeedbackConfig:
        return FeedbackSettings().config()


_DEFAULTS = FeedbackConfig()


class FeedbackSettings(BaseSettings):
    """The environment as read: ``FEEDBACK_*`` (see :class:`FeedbackConfig`) and ``RECEPTION_URL``."""

    model_config = SettingsConfigDict(env_prefix="FEEDBACK_", extra="ignore")

    survey_channel: SurveyChannel = _DEFAULTS.default_channel
    #: ``b001=phone,b002=sms``
    branch_channels: str = ""
    satisfaction_target: float = _DEFAULTS.satisfaction_target
    sms_signature: str = _DEFAULTS.signature
    dispatch_period: float = _DEFAULTS.dispatch_period
    max_send_attempts: int = _DEFAULTS.max_send_attempts
    gauge_window_days: int = _DEFAULTS.gauge_window_days
    #: reception's address for resolving a survey's phone number (``shared.contacts``); unset: none
    reception_url: str = Field(default="", validation_alias=AliasChoices("RECEPTION_URL"))

    def config(self) -> FeedbackConfig:
        branches: dict[str, SurveyChannel] = {}
        for item in self.branch_channels.split(","):
            if item.strip():
                branch, _, channel = item.partition("=")
                branches[branch.strip()] = SurveyChannel(channel.strip())
        if not 0 < self.satisfaction_target <= 1:
            raise ValueError("FEEDBACK_SATISFACTION_TARGET must be a share in (0, 1]")
        # the settings named as the config's fields, then those parsed or named otherwise
        alike = {
            f.name: getattr(self, f.name) for f in fields(FeedbackConfig) if f.name in type(self).model_fields
        }
        parsed = {
            "branch_channels": branches,
            "default_channel": self.survey_channel,
            "signature": self.sms_signature,
        }
        return FeedbackConfig(**(alike | parsed))
