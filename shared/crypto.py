"""Envelope encryption for customer PII: per-customer data keys wrapped by a master key.

Why envelope encryption: each customer's records are encrypted with that customer's own data key
(AES-256-GCM), and only the *wrapped* data key is stored next to them. Destroying the wrapped key
makes every record of that customer unreadable at once (crypto-shredding) without touching the
event history. Rotating the master key rewraps small data keys, never the records.

Both layers are authenticated: the ``customer_ref`` is the associated data, so a ciphertext or a
wrapped key moved onto another customer's row fails to decrypt instead of revealing anything.

Pure functions; the vault (owned by the reception service) does the storage.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.settings import key_environment

log = logging.getLogger(__name__)

__all__ = [
    "DEV_MODE_ENV",
    "MASTER_KEY_ENV",
    "MASTER_KEY_ID_ENV",
    "RETIRED_MASTER_KEYS_ENV",
    "DecryptionError",
    "KeyConfigError",
    "MasterKeyring",
    "UnknownKeyId",
    "WrappedKey",
    "create_data_key",
    "decode_key",
    "decrypt_record",
    "encrypt_record",
    "is_dev_mode",
    "new_data_key",
    "rewrap_data_key",
    "unwrap_data_key",
    "wrap_data_key",
]

DEV_MODE_ENV = "BRANCHCARE_DEV_MODE"
MASTER_KEY_ENV = "BRANCHCARE_MASTER_KEY"
MASTER_KEY_ID_ENV = "BRANCHCARE_MASTER_KEY_ID"
#: ``id:base64,id:base64`` — older master keys kept only to unwrap during a rotation
RETIRED_MASTER_KEYS_ENV = "BRANCHCARE_MASTER_KEYS_RETIRED"

KEY_BYTES = 32
NONCE_BYTES = 12
_FORMAT_V1 = 1
_KEY_ID = re.compile(r"^[A-Za-z0-9_\-]{1,32}$")
_CUSTOMER_REF = re.compile(r"^[A-Za-z0-9_\-]{8,64}$")
_RECORD_AAD = b"branchcare.record.v1\x00"
_WRAP_AAD = b"branchcare.dek.v1\x00"

#: public on purpose: usable only with BRANCHCARE_DEV_MODE=1, never a production key
_DEV_MASTER_KEY = b"DEV-ONLY-branchcare-master-key!!"
_DEV_MASTER_KEY_ID = "dev"


class KeyConfigError(RuntimeError):
    """A key from the environment is missing or malformed; the message names the variable only."""


class DecryptionError(Exception):
    """Ciphertext, wrapped key, associated data or key do not match (tampered, moved or wrong key)."""


class UnknownKeyId(DecryptionError):
    """A wrapped data key names a master key this keyring does not hold (retired and dropped?)."""


def is_dev_mode(environ: Mapping[str, str] | None = None) -> bool:
    """``BRANCHCARE_DEV_MODE=1``: built-in development keys are allowed (and logged loudly)."""
    env = key_environment() if environ is None else environ
    return env.get(DEV_MODE_ENV, "") == "1"


def decode_key(value: str, *, name: str, min_bytes: int = KEY_BYTES, exact: bool = False) -> bytes:
    """Decode a base64 (standard or url-safe, padding optional) key; errors never echo the value."""
    text = value.strip().replace("-", "+").replace("_", "/")
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise KeyConfigError(f"{name} is not valid base64") from None
    if exact and len(raw) != min_bytes:
        raise KeyConfigError(f"{name} must decode to exactly {min_bytes} bytes (got {len(raw)})")
    if len(raw) < min_bytes:
        raise KeyConfigError(f"{name} must decode to at least {min_bytes} bytes (got {len(raw)})")
    return raw


def configured_key(
    env: Mapping[str, str],
    name: str,
    *,
    dev_key: bytes,
    how: str,
    min_bytes: int = KEY_BYTES,
    exact: bool = False,
) -> bytes | None:
    """The key in ``env[name]`` (:func:`decode_key`), or None when it is unset in development mode
    (the caller warns and uses its public development key). Refuses an unset key outside
    development mode (``how``: how to make one) and the development key itself outside it."""
    raw = env.get(name, "").strip()
    if not raw:
        if not is_dev_mode(env):
            raise KeyConfigError(
                f"{name} is not set: {how}, or set {DEV_MODE_ENV}=1 to use the public development key"
            )
        return None
    key = decode_key(raw, name=name, min_bytes=min_bytes, exact=exact)
    if key == dev_key and not is_dev_mode(env):
        raise KeyConfigError(f"{name} is the public development key; use a random one")
    return key


def _check_ref(customer_ref: str) -> bytes:
    if not _CUSTOMER_REF.match(customer_ref):
        raise ValueError("customer_ref must match ^[A-Za-z0-9_-]{8,64}$")
    return customer_ref.encode()


def _check_key(key: bytes, what: str) -> None:
    if len(key) != KEY_BYTES:
        raise ValueError(f"{what} must be {KEY_BYTES} bytes")


# ------------------------------------------------------------------------------------ master keys


@dataclass(frozen=True)
class MasterKeyring:
    """The current master key (wraps new data keys) plus retired ones (unwrap only)."""

    current_id: str
    keys: Mapping[str, bytes] = field(repr=False)

    def __post_init__(self) -> None:
        for key_id, key in self.keys.items():
            if not _KEY_ID.match(key_id):
                raise KeyConfigError(f"master key id {key_id!r} must match {_KEY_ID.pattern}")
            if len(key) != KEY_BYTES:
                raise KeyConfigError(f"master key {key_id!r} must be {KEY_BYTES} bytes")
        if self.current_id not in self.keys:
            raise KeyConfigError(f"current master key id {self.current_id!r} has no key")

    @classmethod
    def single(cls, key_id: str, key: bytes) -> MasterKeyring:
        return cls(key_id, {key_id: key})

    def with_current(self, key_id: str, key: bytes) -> MasterKeyring:
        """A keyring where ``key_id`` wraps from now on and every older key still unwraps."""
        return MasterKeyring(key_id, {**self.keys, key_id: key})

    def key(self, key_id: str) -> bytes:
        try:
            return self.keys[key_id]
        except KeyError:
            raise UnknownKeyId(f"no master key with id {key_id!r}") from None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> MasterKeyring:
        """``BRANCHCARE_MASTER_KEY`` (base64, 32 bytes), ``BRANCHCARE_MASTER_KEY_ID`` (default
        ``mk1``), optional ``BRANCHCARE_MASTER_KEYS_RETIRED``. Missing key: refuse, except the
        built-in development key with ``BRANCHCARE_DEV_MODE=1``."""
        env = key_environment() if environ is None else environ
        current = configured_key(
            env,
            MASTER_KEY_ENV,
            dev_key=_DEV_MASTER_KEY,
            how="give it 32 random bytes in base64 "
            "(python -c 'import os,base64;print(base64.b64encode(os.urandom(32)).decode())')",
            exact=True,
        )
        if current is None:
            log.warning(
                "%s=1: using the PUBLIC development master key; PII is NOT protected. Never in production.",
                DEV_MODE_ENV,
            )
            return cls.single(_DEV_MASTER_KEY_ID, _DEV_MASTER_KEY)
        current_id = env.get(MASTER_KEY_ID_ENV, "mk1").strip() or "mk1"
        keys: dict[str, bytes] = {}
        for item in filter(None, (s.strip() for s in env.get(RETIRED_MASTER_KEYS_ENV, "").split(","))):
            key_id, sep, value = item.partition(":")
            if not sep:
                raise KeyConfigError(f"{RETIRED_MASTER_KEYS_ENV} entries must be id:base64")
            keys[key_id.strip()] = decode_key(value, name=f"{RETIRED_MASTER_KEYS_ENV}[{key_id}]", exact=True)
        keys[current_id] = current
        return cls(current_id, keys)


# -------------------------------------------------------------------------------------- data keys


@dataclass(frozen=True)
class WrappedKey:
    """A data key encrypted under master key ``key_id``; what the vault stores per customer."""

    key_id: str
    nonce: bytes
    ciphertext: bytes = field(repr=False)

    def to_bytes(self) -> bytes:
        kid = self.key_id.encode()
        return bytes([_FORMAT_V1, len(kid)]) + kid + self.nonce + self.ciphertext

    @classmethod
    def from_bytes(cls, blob: bytes) -> WrappedKey:
        if len(blob) < 2 or blob[0] != _FORMAT_V1:
            raise DecryptionError("not a wrapped key (unknown format)")
        kid_len = blob[1]
        kid_end = 2 + kid_len
        if len(blob) < kid_end + NONCE_BYTES + 16:
            raise DecryptionError("wrapped key is truncated")
        try:
            key_id = blob[2:kid_end].decode()
        except UnicodeDecodeError:
            raise DecryptionError("wrapped key has a malformed key id") from None
        return cls(key_id, blob[kid_end : kid_end + NONCE_BYTES], blob[kid_end + NONCE_BYTES :])


def new_data_key() -> bytes:
    """A fresh random AES-256 data key."""
    return AESGCM.generate_key(bit_length=256)


def _wrap_aad(key_id: str, customer_ref: str) -> bytes:
    return _WRAP_AAD + key_id.encode() + b"\x00" + _check_ref(customer_ref)


def wrap_data_key(keyring: MasterKeyring, data_key: bytes, customer_ref: str) -> WrappedKey:
    """Encrypt ``data_key`` under the keyring's current master key, bound to ``customer_ref``."""
    _check_key(data_key, "data key")
    key_id = keyring.current_id
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(keyring.key(key_id)).encrypt(nonce, data_key, _wrap_aad(key_id, customer_ref))
    return WrappedKey(key_id, nonce, sealed)


def unwrap_data_key(keyring: MasterKeyring, wrapped: WrappedKey, customer_ref: str) -> bytes:
    """The data key, or :class:`DecryptionError` if tampered, moved to another customer or unknown."""
    master = keyring.key(wrapped.key_id)
    aad = _wrap_aad(wrapped.key_id, customer_ref)
    try:
        return AESGCM(master).decrypt(wrapped.nonce, wrapped.ciphertext, aad)
    except InvalidTag:
        raise DecryptionError("wrapped data key does not authenticate") from None


def create_data_key(keyring: MasterKeyring, customer_ref: str) -> tuple[bytes, WrappedKey]:
    """A new data key for a customer and its wrapped form (store only the latter)."""
    key = new_data_key()
    return key, wrap_data_key(keyring, key, customer_ref)


def rewrap_data_key(keyring: MasterKeyring, wrapped: WrappedKey, customer_ref: str) -> WrappedKey:
    """Master-key rotation: the same data key, now wrapped by the current master key."""
    if wrapped.key_id == keyring.current_id:
        return wrapped
    return wrap_data_key(keyring, unwrap_data_key(keyring, wrapped, customer_ref), customer_ref)


# ---------------------------------------------------------------------------------------- records


def _record_aad(customer_ref: str, context: bytes) -> bytes:
    return _RECORD_AAD + bytes([_FORMAT_V1]) + _check_ref(customer_ref) + b"\x00" + context


def encrypt_record(data_key: bytes, plaintext: bytes, customer_ref: str, *, context: bytes = b"") -> bytes:
    """``version || nonce || AES-GCM(ciphertext+tag)``; ``context`` (e.g. b"phone") is also bound."""
    _check_key(data_key, "data key")
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(data_key).encrypt(nonce, plaintext, _record_aad(customer_ref, context))
    return bytes([_FORMAT_V1]) + nonce + sealed


def decrypt_record(data_key: bytes, blob: bytes, customer_ref: str, *, context: bytes = b"") -> bytes:
    """The plaintext, or :class:`DecryptionError` for any mismatch (key, customer, context, bytes)."""
    _check_key(data_key, "data key")
    if len(blob) < 1 + NONCE_BYTES + 16 or blob[0] != _FORMAT_V1:
        raise DecryptionError("not an encrypted record (unknown format or truncated)")
    nonce, sealed = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
    try:
        return AESGCM(data_key).decrypt(nonce, sealed, _record_aad(customer_ref, context))
    except InvalidTag:
        raise DecryptionError("record does not authenticate") from None
