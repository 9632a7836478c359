"""Envelope encryption: round trips, every tampering and mix-up fails, rotation keeps data
readable, and destroying a customer's wrapped data key makes their records unreadable."""

from __future__ import annotations

import base64
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.crypto import (
    DecryptionError,
    KeyConfigError,
    MasterKeyring,
    UnknownKeyId,
    WrappedKey,
    create_data_key,
    decrypt_record,
    encrypt_record,
    new_data_key,
    rewrap_data_key,
    unwrap_data_key,
    wrap_data_key,
)

REF = "cref_AAAAAAAAAAAAAAAAAAAAAAAA"
OTHER_REF = "cref_BBBBBBBBBBBBBBBBBBBBBBBB"


@pytest.fixture
def keyring() -> MasterKeyring:
    return MasterKeyring.single("mk1", os.urandom(32))


def test_a_record_round_trips_through_a_wrapped_data_key(keyring: MasterKeyring) -> None:
    key, wrapped = create_data_key(keyring, REF)
    blob = encrypt_record(key, "张三 13812345678".encode(), REF, context=b"contact")
    stored = WrappedKey.from_bytes(wrapped.to_bytes())
    again = unwrap_data_key(keyring, stored, REF)
    assert decrypt_record(again, blob, REF, context=b"contact").decode() == "张三 13812345678"
    assert b"13812345678" not in blob and key not in wrapped.to_bytes()


def test_nonces_are_fresh_every_time(keyring: MasterKeyring) -> None:
    key = new_data_key()
    blobs = {encrypt_record(key, b"same", REF) for _ in range(50)}
    assert len(blobs) == 50
    assert len({wrap_data_key(keyring, key, REF).nonce for _ in range(50)}) == 50


@given(plaintext=st.binary(max_size=300), position=st.integers(min_value=0))
def test_any_flipped_byte_is_detected(plaintext: bytes, position: int) -> None:
    key = new_data_key()
    blob = bytearray(encrypt_record(key, plaintext, REF))
    blob[position % len(blob)] ^= 0x01
    with pytest.raises(DecryptionError):
        decrypt_record(key, bytes(blob), REF)


def test_truncated_or_foreign_blobs_are_refused() -> None:
    key = new_data_key()
    blob = encrypt_record(key, b"x", REF)
    for bad in (b"", blob[:10], b"\x02" + blob[1:], blob[:-1]):
        with pytest.raises(DecryptionError):
            decrypt_record(key, bad, REF)


def test_a_record_moved_to_another_customer_does_not_decrypt() -> None:
    key = new_data_key()
    blob = encrypt_record(key, b"phone", REF)
    with pytest.raises(DecryptionError):
        decrypt_record(key, blob, OTHER_REF)
    with pytest.raises(DecryptionError):
        decrypt_record(key, blob, REF, context=b"name")


def test_the_wrong_data_key_does_not_decrypt() -> None:
    blob = encrypt_record(new_data_key(), b"phone", REF)
    with pytest.raises(DecryptionError):
        decrypt_record(new_data_key(), blob, REF)


def test_a_wrapped_key_is_bound_to_its_customer_and_master_key(keyring: MasterKeyring) -> None:
    _, wrapped = create_data_key(keyring, REF)
    with pytest.raises(DecryptionError):
        unwrap_data_key(keyring, wrapped, OTHER_REF)
    with pytest.raises(DecryptionError):
        unwrap_data_key(MasterKeyring.single("mk1", os.urandom(32)), wrapped, REF)
    tampered = WrappedKey(
        wrapped.key_id, wrapped.nonce, bytes([wrapped.ciphertext[0] ^ 1]) + wrapped.ciphertext[1:]
    )
    with pytest.raises(DecryptionError):
        unwrap_data_key(keyring, tampered, REF)
    relabelled = WrappedKey("mk2", wrapped.nonce, wrapped.ciphertext)
    ring2 = keyring.with_current("mk2", keyring.key("mk1"))  # same key bytes, other id
    with pytest.raises(DecryptionError):
        unwrap_data_key(ring2, relabelled, REF)


def test_an_unknown_master_key_id_is_its_own_error(keyring: MasterKeyring) -> None:
    _, wrapped = create_data_key(keyring, REF)
    with pytest.raises(UnknownKeyId):
        unwrap_data_key(MasterKeyring.single("mk9", os.urandom(32)), wrapped, REF)


@pytest.mark.parametrize("blob", [b"", b"\x01", b"\x02\x03mk1" + b"\x00" * 40, b"\x01\x09mk1" + b"\x00" * 10])
def test_malformed_wrapped_keys_are_refused(blob: bytes) -> None:
    with pytest.raises(DecryptionError):
        WrappedKey.from_bytes(blob)


def test_rotation_rewraps_keys_without_touching_records(keyring: MasterKeyring) -> None:
    key, wrapped = create_data_key(keyring, REF)
    blob = encrypt_record(key, b"13812345678", REF)

    rotated = keyring.with_current("mk2", os.urandom(32))
    assert unwrap_data_key(rotated, wrapped, REF) == key  # old wraps still readable
    rewrapped = rewrap_data_key(rotated, wrapped, REF)
    assert rewrapped.key_id == "mk2" and rewrap_data_key(rotated, rewrapped, REF) is rewrapped
    assert wrap_data_key(rotated, key, REF).key_id == "mk2"

    retired = MasterKeyring.single("mk2", rotated.key("mk2"))  # mk1 dropped after the rewrap
    assert decrypt_record(unwrap_data_key(retired, rewrapped, REF), blob, REF) == b"13812345678"
    with pytest.raises(UnknownKeyId):
        unwrap_data_key(retired, wrapped, REF)


def test_destroying_the_wrapped_key_shreds_the_customer(keyring: MasterKeyring) -> None:
    vault_keys: dict[str, bytes] = {}
    records: dict[str, bytes] = {}
    for ref in (REF, OTHER_REF):
        key, wrapped = create_data_key(keyring, ref)
        vault_keys[ref] = wrapped.to_bytes()
        records[ref] = encrypt_record(key, f"name of {ref}".encode(), ref)
        del key

    del vault_keys[REF]  # erasure on request

    for attempt in (keyring.key("mk1"), new_data_key(), create_data_key(keyring, REF)[0]):
        with pytest.raises(DecryptionError):
            decrypt_record(attempt, records[REF], REF)
    other = unwrap_data_key(keyring, WrappedKey.from_bytes(vault_keys[OTHER_REF]), OTHER_REF)
    assert decrypt_record(other, records[OTHER_REF], OTHER_REF) == f"name of {OTHER_REF}".encode()


def test_inputs_are_validated() -> None:
    with pytest.raises(ValueError, match="customer_ref"):
        encrypt_record(new_data_key(), b"x", "13812345678 raw phone")
    with pytest.raises(ValueError, match="32 bytes"):
        encrypt_record(b"short", b"x", REF)
    with pytest.raises(KeyConfigError):
        MasterKeyring.single("mk1", b"short")
    with pytest.raises(KeyConfigError):
        MasterKeyring.single("bad.id", os.urandom(32))
    assert "keys" not in repr(MasterKeyring.single("mk1", os.urandom(32)))


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_keyring_from_env() -> None:
    current, old = os.urandom(32), os.urandom(32)
    ring = MasterKeyring.from_env(
        {
            "BRANCHCARE_MASTER_KEY": b64(current),
            "BRANCHCARE_MASTER_KEY_ID": "mk2",
            "BRANCHCARE_MASTER_KEYS_RETIRED": f"mk1:{b64(old)}",
        }
    )
    assert ring.current_id == "mk2" and ring.key("mk2") == current and ring.key("mk1") == old
    url_safe = base64.urlsafe_b64encode(current).decode().rstrip("=")
    assert MasterKeyring.from_env({"BRANCHCARE_MASTER_KEY": url_safe}).key("mk1") == current


def test_keyring_from_env_refuses_bad_configuration() -> None:
    with pytest.raises(KeyConfigError, match="not set"):
        MasterKeyring.from_env({})
    with pytest.raises(KeyConfigError, match="exactly 32") as info:
        MasterKeyring.from_env({"BRANCHCARE_MASTER_KEY": b64(b"x" * 31)})
    assert b64(b"x" * 31) not in str(info.value)
    with pytest.raises(KeyConfigError, match="id:base64"):
        MasterKeyring.from_env(
            {"BRANCHCARE_MASTER_KEY": b64(os.urandom(32)), "BRANCHCARE_MASTER_KEYS_RETIRED": "x"}
        )
    dev = MasterKeyring.from_env({"BRANCHCARE_DEV_MODE": "1"})
    with pytest.raises(KeyConfigError, match="development key"):
        MasterKeyring.from_env({"BRANCHCARE_MASTER_KEY": b64(dev.key(dev.current_id))})
