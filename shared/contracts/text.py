"""Free text as a contract type, and the reference that travels instead of it.

Free text typed by staff (a complaint's description, a visit's notes, a survey comment) is customer
data: staff write names and numbers into it. Two rules, one module:

- **On the way in** every free-text field of every request body and command is a :data:`FreeText`
  (or :data:`ShortText`, :data:`OptionalText`, or a bespoke :func:`free_text`): Unicode NFC, line
  ends as ``\\n``, trimmed, bounded, and refused (422 naming the field) when it holds a NUL or any
  other C0/C1 control character than newline and tab, a lone surrogate or a non-character — the
  things PostgreSQL cannot store (NUL) or a terminal would obey (ESC sequences).
- **On the way out** the text never goes into an event: the service that received it keeps it in
  its private, erasable store (``shared/texts.py``) and events carry a :class:`TextRef` — the
  owning context, the text's id and name-free facts (its length). Whoever needs the words asks the
  owner (``GET /texts/{text_id}``), as staff of the text's branch.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, GetJsonSchemaHandler, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

__all__ = [
    "MAX_TEXT",
    "FreeText",
    "OptionalText",
    "ShortText",
    "TextContext",
    "TextRef",
    "TextRules",
    "clean_text",
    "free_text",
    "withheld_ref",
]

#: the longest free text any field takes (a complaint's description)
MAX_TEXT = 4000
#: the contexts that keep texts (HQ keeps none)
TextContext = Literal["reception", "complaint", "followup", "feedback"]
TEXT_CONTEXTS: tuple[str, ...] = ("reception", "complaint", "followup", "feedback")

#: C0 controls but tab and newline, DEL, C1 controls, surrogates, the two BMP non-characters
_FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_LINE_BREAKS = re.compile("\r\n?")


def clean_text(
    value: str, *, max_length: int = MAX_TEXT, min_length: int = 0, single_line: bool = False
) -> str:
    """The one normal form of a free text, or ``ValueError`` saying what is wrong (never the text).

    NFC, ``\\r\\n`` and ``\\r`` as ``\\n`` (browsers post text areas with CRLF), trimmed; then
    control characters, length and (for single-line texts) line breaks are checked."""
    text = _LINE_BREAKS.sub("\n", unicodedata.normalize("NFC", value))
    # checked before trimming: str.strip() would silently drop some controls (\x1c-\x1f, \x85)
    bad = _FORBIDDEN.search(text)
    text = text.strip()
    if bad is not None:
        raise ValueError(
            f"control or invalid character U+{ord(bad.group()):04X} at position {bad.start()} is "
            "not allowed in text (newline and tab are)"
        )
    if single_line and ("\n" in text or "\t" in text):
        raise ValueError("a line break or tab is not allowed here: one line of text")
    if len(text) > max_length:
        raise ValueError(f"at most {max_length} characters (got {len(text)})")
    if len(text) < min_length:
        raise ValueError("must not be empty" if min_length == 1 else f"at least {min_length} characters")
    return text


@dataclass(frozen=True)
class TextRules:
    """Pydantic metadata making a ``str`` field a free text: ``Annotated[str, TextRules(2000)]``."""

    max_length: int = MAX_TEXT
    min_length: int = 0
    single_line: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.min_length <= self.max_length <= MAX_TEXT:
            raise ValueError("text bounds must satisfy 0 <= min_length <= max_length <= MAX_TEXT")

    def check(self, value: str) -> str:
        return clean_text(
            value, max_length=self.max_length, min_length=self.min_length, single_line=self.single_line
        )

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["maxLength"] = self.max_length
        if self.min_length:
            json_schema["minLength"] = self.min_length
        json_schema.setdefault(
            "description",
            "Free text: NFC, trimmed; control characters other than newline and tab are refused"
            + ("; one line" if self.single_line else ""),
        )
        return json_schema


def free_text(max_length: int = MAX_TEXT, *, min_length: int = 0, single_line: bool = False) -> Any:
    """A free-text field type with its own bounds, built at run time (for static types write
    ``Annotated[str, TextRules(...)]``)."""
    return Annotated[str, TextRules(max_length, min_length, single_line)]


#: a required free text (a complaint's description, a reason): 1–4000 characters after trimming
FreeText = Annotated[str, TextRules(MAX_TEXT, min_length=1)]
#: an optional free text (a note): empty means none
OptionalText = Annotated[str, TextRules(MAX_TEXT)]
#: one line, 1–200 characters (a label, a reason given in a query string)
ShortText = Annotated[str, TextRules(200, min_length=1, single_line=True)]


class TextRef(BaseModel):
    """A free text kept by the context that received it; what events carry instead of the text.

    ``text_id`` is the text's id in the owner's private store (``GET /texts/{text_id}`` on the
    owning service); ``length`` (in characters, after masking) is a name-free fact a reader may use
    without the words. A ``withheld`` reference stands for a text recorded before free text left
    the events (schema v1): its words were never copied to a private store and are not available.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    context: TextContext
    text_id: UUID | None = None
    length: int = Field(ge=0, le=MAX_TEXT)
    withheld: bool = False

    @model_validator(mode="after")
    def _id_unless_withheld(self) -> TextRef:
        if self.withheld != (self.text_id is None):
            raise ValueError("a text reference has a text_id exactly when it is not withheld")
        return self


def withheld_ref(context: str, text: object) -> TextRef:
    """The placeholder for a text recorded before v2: "text recorded before v2, withheld"."""
    length = min(len(text), MAX_TEXT) if isinstance(text, str) else 0
    return TextRef.model_validate({"context": context, "length": length, "withheld": True})


#: the words a reader sees for a withheld reference
WITHHELD_TEXT = "text recorded before v2, withheld"


# ------------------------------------------------------------------- events recorded before v2


def _withhold(data: dict[str, Any], path: str, context: str, required: bool) -> dict[str, Any]:
    head, _, rest = path.partition(".")
    if head.endswith("[]"):
        name = head[:-2]
        items = data.get(name)
        if isinstance(items, list):
            data[name] = [
                _withhold(dict(item), rest, context, True) if isinstance(item, dict) else item
                for item in items
            ]
        return data
    if rest:
        inner = data.get(head)
        if isinstance(inner, dict):
            data[head] = _withhold(dict(inner), rest, context, True)
        return data
    value = data.get(head)
    if isinstance(value, str):
        data[head] = withheld_ref(context, value).model_dump(mode="json") if value or required else None
    return data


def withhold_texts(event: Any, context: str, *paths: str, also: Any = None) -> None:
    """Register ``event``'s upcaster from the version before: every raw text at ``paths`` (``note``,
    ``solutions[].description``) becomes a withheld :class:`TextRef`, so read models, rebuilds and
    re-publication never spread words recorded before free text left the events. ``also(data)``
    does the rest of the step (fields that changed shape)."""
    from shared.registry import REGISTRY

    fields = event.model_fields

    def step(data: dict[str, Any]) -> dict[str, Any]:
        out = dict(data)
        for path in paths:
            head = path.partition(".")[0].removesuffix("[]")
            required = head in fields and fields[head].is_required()
            out = _withhold(out, path, context, required)
        return also(out) if also is not None else out

    REGISTRY.add_upcaster(event.event_type, event.schema_version - 1, step)
