"""Feedback settings from the environment (``FEEDBACK_*``); tests pass a :class:`FeedbackConfig`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

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
        env = os.environ
        defaults = cls()
        branches: dict[str, SurveyChannel] = {}
        for item in env.get("FEEDBACK_BRANCH_CHANNELS", "").split(","):
            if item.strip():
                branch, _, channel = item.partition("=")
                branches[branch.strip()] = SurveyChannel(channel.strip())
        target = float(env.get("FEEDBACK_SATISFACTION_TARGET", defaults.satisfaction_target))
        if not 0 < target <= 1:
            raise ValueError("FEEDBACK_SATISFACTION_TARGET must be a share in (0, 1]")
        return cls(
            default_channel=SurveyChannel(env.get("FEEDBACK_SURVEY_CHANNEL", defaults.default_channel.value)),
            branch_channels=branches,
            satisfaction_target=target,
            signature=env.get("FEEDBACK_SMS_SIGNATURE", defaults.signature),
            dispatch_period=float(env.get("FEEDBACK_DISPATCH_PERIOD", defaults.dispatch_period)),
            max_send_attempts=int(env.get("FEEDBACK_MAX_SEND_ATTEMPTS", defaults.max_send_attempts)),
            gauge_window_days=int(env.get("FEEDBACK_GAUGE_WINDOW_DAYS", defaults.gauge_window_days)),
        )
