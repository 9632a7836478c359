"""A list someone goes through again and again: the branch's open cases (the lobby manager at the
complaint board), its open follow-ups, the surveys waiting for an answer (the SMS gateway).

Each :class:`Round` lists its items now (those of this run and any left by an earlier one, so a
second run continues where the first stopped) and then every ``listing.every`` simulated minutes, and
looks at each item once per listing (:meth:`Round.see`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from services.simulator.engine import Branch, Simulation


@dataclass(frozen=True)
class Listing:
    """What a round lists, and how often: simulated minutes between two listings, the schedule's
    label for them, the service, its route (``{b}``: the branch), the query and the answer's list."""

    every: float
    label: str
    service: str
    path: str
    params: Mapping[str, Any]
    items: str


class Round:
    listing: ClassVar[Listing]

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.api = sim.api

    async def resume(self, branch: Branch) -> None:
        """Go through the list now, then every ``listing.every`` minutes."""
        await self.go_round(branch)

    async def go_round(self, branch: Branch) -> None:
        listing = self.listing
        self.sim.schedule_open(listing.every, listing.label, lambda: self.go_round(branch))
        manager = self.api.acting(branch.manager, branch.branch_id)
        r = await manager.get(listing.service, listing.path, listing.params, b=branch.branch_id)
        if r is None or r.status_code != 200:
            return
        for item in r.json().get(listing.items, []):
            self.see(branch, item)

    def see(self, branch: Branch, item: dict[str, Any]) -> None:
        """One listed item: take it on (schedule what happens to it), or leave it."""
        raise NotImplementedError
