"""Field types shared by several contexts' contracts."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, ValidationInfo

from shared.contracts.refs import CustomerRef
from shared.contracts.text import TextRules
from shared.pii import mask_name, mask_phone
from shared.registry import STORED_EVENT

__all__ = ["CustomerRef", "Masked", "MaskedName", "MaskedPhone", "Note", "StaffId", "SystemText"]

#: staff member id as carried in tokens and events
StaffId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]
#: an optional note in a request body (free text: validated, never put into an event as words)
Note = Annotated[str, TextRules(2000)]
#: text the system writes from codes, figures and times (a task's reason, a rule's note): never
#: staff's words, so it may travel in events
SystemText = Annotated[str, TextRules(2000, min_length=1)]
#: a masked display value, e.g. ``138****5678``
Masked = Annotated[str, Field(max_length=64)]


#: at most the first character of a masked name is visible: ``张**``, ``J*** *****``, ``* *****``
MASKED_NAME_PATTERN = r"^(?:[^\s*\x00-\x1f]\*+|\*+)(?: \*+)*$"
#: at most 3 leading and 4 trailing digits of a masked phone: ``138****5678``, ``****5678``
MASKED_PHONE_PATTERN = r"^[0-9]{0,3}\*+[0-9]{0,4}$"


def _restored(pattern: str, mask: Callable[[str], str]) -> BeforeValidator:
    """A masked value stored before its shape was checked is masked again when read back."""
    shape = re.compile(pattern)

    def restore(value: object, info: ValidationInfo) -> object:
        if isinstance(value, str) and (info.context or {}).get(STORED_EVENT) and not shape.match(value):
            return mask(value)
        return value

    return BeforeValidator(restore)


def _shaped(pattern: str, description: str) -> Any:
    """A masked value's shape, checked on input and stated in the schema."""
    return Field(
        min_length=1,
        max_length=64,
        pattern=pattern,
        json_schema_extra={"pattern": pattern},
        description=description,
    )


#: a masked name as shown to staff, validated by shape: a raw name such as ``张三丰*`` is refused
MaskedName = Annotated[
    str,
    _restored(MASKED_NAME_PATTERN, mask_name),
    _shaped(MASKED_NAME_PATTERN, "masked name: at most the first character visible, the rest '*'"),
]
#: a masked phone number as shown to staff (``138****5678``; a raw number is refused)
MaskedPhone = Annotated[
    str,
    _restored(MASKED_PHONE_PATTERN, mask_phone),
    _shaped(
        MASKED_PHONE_PATTERN, "masked phone: at most 3 leading + 4 trailing digits visible, the rest '*'"
    ),
]
