"""Notice when the broker hands a consumer a stale partition assignment, so it can start afresh.

The embedded broker (Tansu, memory storage) never advances a group's generation, and it answers a
member that rejoins under the *same member id* with the assignment that member got first,
whatever the group leader has just computed. After a broker restarted empty this strands a
consumer for good: it rejoins while its topics are missing (assigned nothing) or before they come
back with another partition count, and every later rebalance (aiokafka rejoins when the topic's
partition count changes) hands it that first assignment again — no partitions, or only the old
ones, and the republished events are never read (issue 14c).

Every consumer of the services therefore uses :func:`checked_roundrobin` (the standard
round-robin strategy, same protocol name, so members of other versions interoperate): when this
member led the rebalance, it knows what it computed, and an assignment from SyncGroup that matches
none of the computed ones marks its group *stale*. The owner of the consumer (``shared.kafka_link``
for FastStream subscribers, HQ's and hqfeed's own loops) then restarts the consumer — a new
member id, which the broker assigns afresh — with a bounded backoff, logs it and reports it in
``/ready``. A follower cannot tell a stale answer from a fresh one; in the development stack each
group has one member, which always leads.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor

log = logging.getLogger(__name__)

_stale: dict[str, str] = {}


def checked_roundrobin(group: str) -> type[RoundRobinPartitionAssignor]:
    """A round-robin assignor of its own for ``group`` that flags a stale assignment."""

    class CheckedRoundRobin(RoundRobinPartitionAssignor):
        computed: list[frozenset[Any]] | None = None

        @classmethod
        def assign(cls, cluster: Any, members: Mapping[str, Any]) -> dict[str, Any]:
            result = super().assign(cluster, members)
            cls.computed = [frozenset(a.partitions()) for a in result.values()]
            return result

        @classmethod
        def on_assignment(cls, assignment: Any) -> None:
            computed, cls.computed = cls.computed, None
            got = frozenset(assignment.partitions())
            if computed is not None and got not in computed:
                sizes = "/".join(str(len(c)) for c in computed)
                reason = (
                    f"the broker assigned {len(got)} partition(s), none of the assignments this "
                    f"member computed as the group's leader ({sizes} partitions)"
                )
                log.warning("consumer group %s: stale assignment: %s", group, reason)
                _stale[group] = reason
            elif computed is not None:
                _stale.pop(group, None)

    return CheckedRoundRobin


def stale_assignment(group: str) -> str | None:
    """Why ``group``'s consumer holds a stale assignment (None: it does not, as far as it knows)."""
    return _stale.get(group)


def forget(group: str) -> None:
    """The consumer of ``group`` is being replaced: the flag belonged to the old one."""
    _stale.pop(group, None)


class StaleAssignment(Exception):
    """Raised by a consumer loop to have its consumer replaced."""
