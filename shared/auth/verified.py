"""Verified bearer tokens remembered for their lifetime, so a staff member's next request skips the
HMAC check and claim validation (3.7 % of a command's CPU when every request verified afresh).
Staff tokens here (:func:`staff_verifier`); gateway tokens use the same :class:`TokenCache` per app
(``shared.gateway_identity``). Service tokens are minted fresh per call and are not cached.

What the cache changes, and what it does not:

- Keyed by the whole token string (signature included): only the exact bytes that verified once
  hit; any other token, however similar, is verified in full. Failures are never cached.
- A hit is answered only while ``now < exp + leeway``, the moment PyJWT itself would start to
  refuse the token as expired; ``iat`` / ``nbf`` in the future fail verification and so are
  never cached. So a cached answer is the answer verification would give at that moment.
- One cache per :class:`~shared.auth.config.AuthConfig` (secret, leeway, lifetime bound): a
  process started with a rotated secret starts with an empty cache.
- Revocation: BranchCare has no revocation list; a staff token is valid until it expires (at
  most 24 h) or the secret is rotated (a restart). Should one ever be added, it must be checked
  on every request, outside this cache, or clear it (:meth:`TokenCache.clear`).
- Bounded: at most ``size`` tokens (least recently used evicted), each at most
  :data:`MAX_CACHED_CHARS` long, so a flood of distinct valid tokens costs bounded memory.
"""

from __future__ import annotations

import functools
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from shared.auth.config import AuthConfig
from shared.auth.principal import Principal
from shared.auth.tokens import verify_token

T = TypeVar("T")

DEFAULT_SIZE = 4096
#: longer tokens are verified every time (an honest token is a few hundred characters)
MAX_CACHED_CHARS = 2048


class TokenCache(Generic[T]):
    """Token → what its verification answered, until a given POSIX time; LRU-bounded."""

    def __init__(self, size: int = DEFAULT_SIZE, clock: Callable[[], float] = time.time) -> None:
        self.size = size
        self._clock = clock
        self._entries: OrderedDict[str, tuple[T, float]] = OrderedDict()

    def get(self, token: str) -> T | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        value, valid_until = entry
        if self._clock() >= valid_until:
            del self._entries[token]
            return None
        self._entries.move_to_end(token)
        return value

    def put(self, token: str, value: T, valid_until: float) -> None:
        if len(token) > MAX_CACHED_CHARS or self.size <= 0:
            return
        self._entries[token] = (value, valid_until)
        self._entries.move_to_end(token)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


class StaffTokenVerifier:
    """:func:`~shared.auth.tokens.decode_token` with the config's key and bounds, cached."""

    def __init__(
        self, config: AuthConfig, *, size: int = DEFAULT_SIZE, clock: Callable[[], float] = time.time
    ) -> None:
        self.config = config
        self.cache: TokenCache[Principal] = TokenCache(size, clock)

    def verify(self, token: str) -> Principal:
        """The token's principal; raises :class:`~shared.auth.tokens.InvalidToken` as decode does."""
        principal = self.cache.get(token)
        if principal is None:
            config = self.config
            principal, exp = verify_token(
                token, config.secret, leeway=config.leeway, max_lifetime=config.max_lifetime
            )
            self.cache.put(token, principal, exp + config.leeway.total_seconds())
        return principal


@functools.lru_cache(maxsize=8)
def staff_verifier(config: AuthConfig) -> StaffTokenVerifier:
    """The process's verifier for ``config`` (equal configs verify identically, so they share)."""
    return StaffTokenVerifier(config)
