"""``shared.stream_texts``: a context's texts read with the stream, decrypted with the stream's keys;
a text without its row or its owner's key is left for the caller to read."""

from __future__ import annotations

import os
from uuid import uuid4

import pytest

from shared.contracts.text import TextRef
from shared.crypto import MasterKeyring, create_data_key, encrypt_record
from shared.stream_texts import StreamTexts, read_texts, texts_column
from shared.texts import PrivateTexts, _subject

OWNER = "customer:cust_ref_0042"


def _sealed(texts: PrivateTexts, words: str) -> tuple[dict[str, object], bytes, TextRef]:
    key, wrapped = create_data_key(texts.keyring, _subject(OWNER))
    text_id = uuid4()
    ciphertext = encrypt_record(key, words.encode(), _subject(OWNER), context=texts._record_context(text_id))
    row = {
        "text_id": text_id,
        "owner": OWNER,
        "branch_id": "b001",
        "ciphertext": ciphertext,
        "length": len(words),
    }
    return row, wrapped.to_bytes(), TextRef(context=texts.context, text_id=text_id, length=len(words))


def test_the_texts_of_the_stream_are_shown_with_the_streams_keys() -> None:
    texts = PrivateTexts("followup", MasterKeyring.single("mk1", os.urandom(32)))
    row, wrapped, ref = _sealed(texts, "called at noon")
    read = StreamTexts.of({"stream_texts": [row]})
    found = read.stored(texts, [ref, None], {OWNER: wrapped})
    assert found is not None and found[ref.text_id].text == "called at noon"
    # the owner's key did not come with the stream (erased, or a new owner): the caller reads it
    assert read.stored(texts, [ref], {}) is None
    assert read.found(texts, [ref.text_id], {}) == {}
    # a text the stream's load did not read (this command's own): the caller reads it too
    other = TextRef(context="followup", text_id=uuid4(), length=3)
    assert read.stored(texts, [ref, other], {OWNER: wrapped}) is None
    # another context's text is not this one's to show
    elsewhere = TextRef(context="complaint", text_id=uuid4(), length=3)
    assert read.stored(texts, [ref, elsewhere], {OWNER: wrapped}) == found
    assert StreamTexts.of({"stream_texts": None}).rows == {}


def test_only_a_known_context_is_written_into_the_sql() -> None:
    assert '"followup"' in texts_column("followup") and texts_column("followup").endswith("AS stream_texts")
    assert read_texts("complaint").parse({"stream_texts": []}) == StreamTexts({})
    with pytest.raises(ValueError):
        texts_column('x" || 1')
