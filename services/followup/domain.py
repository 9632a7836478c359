"""The follow-up task decider's public face: the names other modules import, from
:mod:`services.followup.decider` (where the state, commands, steps and evolve live)."""

from services.followup import decider
from services.followup.decider import *  # noqa: F403

__all__ = decider.__all__
