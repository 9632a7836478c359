"""Text references for pure tests: what a command carries instead of staff's words.

``ref("angry customer")`` is the same reference every time for the same words (a uuid5 of them),
so a test can say ``assert event.reason == ref("angry customer")``.
"""

from __future__ import annotations

from uuid import UUID, uuid5

from shared.contracts.text import TextRef

_NAMESPACE = UUID("6a1e2c1e-9d7b-4f51-8c1b-5e7d5b0c7a11")


def ref(words: str, context: str = "complaint") -> TextRef:
    return TextRef.model_validate(
        {"context": context, "text_id": uuid5(_NAMESPACE, f"{context}:{words}"), "length": len(words)}
    )


def rref(words: str) -> TextRef:
    """A reception text."""
    return ref(words, "reception")


def fref(words: str) -> TextRef:
    """A follow-up text."""
    return ref(words, "followup")
