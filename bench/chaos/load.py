"""Open-loop load: ~15 requests/s over 20 branches, 80 % complaints, 20 % visits.

Request ``i`` is due at ``start + i / rate`` whether or not earlier ones were answered, so a stuck
service cannot slow the load down and hide its own outage. Every request is recorded: what it was,
when it was sent and answered, its status (or the transport error) and the created id.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass, field

import httpx

from shared.contracts.refs import synthetic_ref
from tests.support.auth import lobby_manager

TIMEOUT_SECONDS = 30.0


@dataclass
class Sent:
    kind: str  # complaint | visit
    branch: str
    sent: float
    answered: float = 0.0
    status: int = 0  # 0: no HTTP answer
    error: str = ""  # the transport error, or the 5xx's outcome/detail
    created: str = ""  # complaint_id / visit_id of a 201

    @property
    def acknowledged(self) -> bool:
        return self.status == 201 and bool(self.created)


@dataclass
class Load:
    complaint_url: str
    reception_url: str
    branches: list[str]
    rate: float = 15.0
    complaint_share: float = 0.8
    sent: list[Sent] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        staff = lobby_manager(*self.branches, staff_id="chaos-agent")
        rng = random.Random(7)
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=16)
        async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS, limits=limits) as http:
            tasks: set[asyncio.Task[None]] = set()
            start = time.monotonic()
            i = 0
            while not self._stop.is_set():
                due = start + i / self.rate
                delay = due - time.monotonic()
                if delay > 0:
                    try:
                        await asyncio.wait_for(self._stop.wait(), delay)
                        break
                    except TimeoutError:
                        pass
                kind = "complaint" if rng.random() < self.complaint_share else "visit"
                record = Sent(kind, self.branches[i % len(self.branches)], time.monotonic())
                self.sent.append(record)
                task = asyncio.create_task(self._one(http, record, staff))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                i += 1
            if tasks:
                await asyncio.wait(tasks, timeout=TIMEOUT_SECONDS + 5)

    def stop(self) -> None:
        self._stop.set()

    async def _one(self, http: httpx.AsyncClient, record: Sent, staff: dict[str, str]) -> None:
        if record.kind == "complaint":
            url = f"{self.complaint_url}/branches/{record.branch}/complaints"
            body = {
                "channel": "in_branch",
                "customer_ref": synthetic_ref(f"chaos-{uuid.uuid4().hex[:12]}"),
                "description": "waited too long at the counter",
            }
            key = "complaint_id"
        else:
            url = f"{self.reception_url}/branches/{record.branch}/visits"
            body = {"arrival": "walk_in"}
            key = "visit_id"
        headers = {**staff, "Idempotency-Key": uuid.uuid4().hex}
        try:
            response = await http.post(url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            record.answered = time.monotonic()
            record.error = type(exc).__name__
            return
        record.answered = time.monotonic()
        record.status = response.status_code
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.status_code == 201 and isinstance(payload, dict):
            record.created = str(payload.get(key, ""))
        elif response.status_code >= 500:
            kind = payload.get("outcome") if isinstance(payload, dict) else None
            record.error = str(kind or response.headers.get("content-type", "?").split(";")[0])

    def first_ack_after(self, moment: float, kind: str | None = None) -> float | None:
        """Seconds from ``moment`` to the first 201 of a request sent after it (None: none)."""
        times = [
            s.answered
            for s in self.sent
            if s.acknowledged and s.sent >= moment and (kind is None or s.kind == kind)
        ]
        return min(times) - moment if times else None
