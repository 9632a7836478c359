"""Who the simulator acts as: a bearer token for each simulated member of staff.

- ``BC_TOKEN`` set: every branch request carries it (it must name the simulated branches; the
  dev runner's printed ``BC_TOKEN_*`` cover ``b001``/``b002`` only), and HQ's reads carry
  ``BC_HQ_TOKEN`` (else ``BC_TOKEN``).
- Otherwise the simulator signs its own short-lived tokens, one per simulated member of staff and
  for that member's branch only (``lm-<branch>``, ``teller-<branch>-<counter>``), and an HQ
  analyst's for HQ — with ``BRANCHCARE_JWT_SECRET`` when set, else the public development secret,
  which only services in development mode accept (``make run``). The survey gateway
  (``sms-gateway``) gets a gateway token (``shared.gateway_identity``) for its branch, signed as
  the services verify it (``BRANCHCARE_GATEWAY_JWT_SECRET``, else the service secret, else the
  staff secret).

A token never names more than the branch the simulated person works in, so the services' branch
checks are exercised exactly as for real staff.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import timedelta

from shared.auth import issue_token
from shared.auth.config import DEV_JWT_SECRET, JWT_SECRET_ENV
from shared.gateway_identity import GATEWAY_SECRET_ENV, gateway_key, issue_gateway_token
from shared.service_identity import SERVICE_SECRET_ENV
from shared.settings import SimulatorSettings, key_environment

TOKEN_ENV = "BC_TOKEN"
HQ_TOKEN_ENV = "BC_HQ_TOKEN"
#: what simulated branch staff may do: the floor's commands and reads, in their own branch
BRANCH_STAFF_ROLES = ("counter_staff", "lobby_manager")
HQ_STAFF_ROLES = ("hq_analyst",)
TTL = timedelta(hours=1)
RENEW_AFTER_SECONDS = 45 * 60
#: the simulated SMS gateway: answers surveys with a gateway token, not a staff one
GATEWAY = "sms-gateway"


class Tokens:
    def __init__(
        self,
        secret: str | None = None,
        *,
        fixed: str | None = None,
        fixed_hq: str | None = None,
        gateway_secret: str | None = None,
    ) -> None:
        self.secret = secret
        self.gateway_secret = gateway_secret or secret
        self.fixed = fixed
        self.fixed_hq = fixed_hq or fixed
        self._signed: dict[tuple[str, str | None], tuple[float, str]] = {}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Tokens:
        env = _simulator_environment() if environ is None else environ
        fixed = env.get(TOKEN_ENV) or None
        if fixed:
            return cls(fixed=fixed, fixed_hq=env.get(HQ_TOKEN_ENV) or None)
        secret = env.get(JWT_SECRET_ENV) or DEV_JWT_SECRET
        gateway = env.get(GATEWAY_SECRET_ENV) or env.get(SERVICE_SECRET_ENV) or secret
        return cls(secret, gateway_secret=gateway)

    def token(self, staff: str, branch: str | None) -> str | None:
        """The token of ``staff`` working in ``branch`` (None: an HQ member of staff)."""
        if self.fixed is not None:
            return self.fixed if branch is not None else self.fixed_hq
        if self.secret is None:
            return None
        key = (staff, branch)
        now = time.monotonic()
        cached = self._signed.get(key)
        if cached is None or now - cached[0] > RENEW_AFTER_SECONDS:
            if branch is None:
                value = issue_token(staff, HQ_STAFF_ROLES, ["*"], TTL, self.secret)
            elif staff == GATEWAY and self.gateway_secret is not None:
                value = issue_gateway_token(GATEWAY, gateway_key(self.gateway_secret), [branch], ttl=TTL)
            else:
                value = issue_token(staff, BRANCH_STAFF_ROLES, [branch], TTL, self.secret)
            cached = self._signed[key] = (now, value)
        return cached[1]

    def headers(self, staff: str, branch: str | None) -> dict[str, str]:
        value = self.token(staff, branch)
        return {"Authorization": f"Bearer {value}"} if value else {}


def _simulator_environment() -> dict[str, str]:
    """The fixed tokens (:class:`~shared.settings.SimulatorSettings`) and the signing secrets
    (:func:`~shared.settings.key_environment`), as the variables ``Tokens.from_env`` reads."""
    fixed = SimulatorSettings()
    tokens = {TOKEN_ENV: fixed.bc_token, HQ_TOKEN_ENV: fixed.bc_hq_token}
    return {**key_environment(), **{k: v.get_secret_value() for k, v in tokens.items() if v is not None}}
