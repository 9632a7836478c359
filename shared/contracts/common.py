"""Field types shared by several contexts' contracts."""

from __future__ import annotations

import re
from typing import Annotated

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
_NAME = re.compile(MASKED_NAME_PATTERN)
_PHONE = re.compile(MASKED_PHONE_PATTERN)


def _stored_name(value: object, info: ValidationInfo) -> object:
    """A value stored before the shape was checked is shown masked again when read back."""
    if isinstance(value, str) and (info.context or {}).get(STORED_EVENT) and not _NAME.match(value):
        return mask_name(value)
    return value


def _stored_phone(value: object, info: ValidationInfo) -> object:
    if isinstance(value, str) and (info.context or {}).get(STORED_EVENT) and not _PHONE.match(value):
        return mask_phone(value)
    return value


#: a masked name as shown to staff, validated by shape: a raw name such as ``张三丰*`` is refused
MaskedName = Annotated[
    str,
    BeforeValidator(_stored_name),
    Field(
        min_length=1,
        max_length=64,
        pattern=MASKED_NAME_PATTERN,
        json_schema_extra={"pattern": MASKED_NAME_PATTERN},
        description="masked name: at most the first character visible, the rest '*'",
    ),
]
#: a masked phone number as shown to staff (``138****5678``; a raw number is refused)
MaskedPhone = Annotated[
    str,
    BeforeValidator(_stored_phone),
    Field(
        min_length=1,
        max_length=64,
        pattern=MASKED_PHONE_PATTERN,
        json_schema_extra={"pattern": MASKED_PHONE_PATTERN},
        description="masked phone: at most 3 leading + 4 trailing digits visible, the rest '*'",
    ),
]
