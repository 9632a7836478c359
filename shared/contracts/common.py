"""Field types shared by several contexts' contracts."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, ValidationInfo

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


#: at most the first character of a masked name is visible: ``张**``, ``J*** *****``, ``**``
_MASKED_NAME = re.compile(r"^[^\s*\x00-\x1f]?[* ]*\*[* ]*$")
#: at most 3 leading and 4 trailing digits of a masked phone: ``138****5678``, ``****5678``
_MASKED_PHONE = re.compile(r"^[0-9]{0,3}\*+[0-9]{0,4}$")


def _masked_name(value: str, info: ValidationInfo) -> str:
    if not _MASKED_NAME.match(value) or "  " in value or value != value.strip():
        if (info.context or {}).get(STORED_EVENT):
            return mask_name(value)  # stored before shapes were checked: shown masked again
        raise ValueError(
            "a masked name shows at most its first character, the rest as '*' (e.g. 张**, J*** *****)"
        )
    return value


def _masked_phone(value: str, info: ValidationInfo) -> str:
    if not _MASKED_PHONE.match(value):
        if (info.context or {}).get(STORED_EVENT):
            return mask_phone(value)
        raise ValueError(
            "a masked phone shows at most its first 3 and last 4 digits, the rest as '*' (e.g. 138****5678)"
        )
    return value


#: a masked name as shown to staff (validated by shape, so a raw name such as ``张三丰*`` is refused;
#: a value stored before the shape was checked is masked again when read back, see STORED_EVENT)
MaskedName = Annotated[
    str,
    Field(min_length=1, max_length=64, description="masked name: at most the first character visible"),
    AfterValidator(_masked_name),
]
#: a masked phone number as shown to staff (``138****5678``; a raw number is refused)
MaskedPhone = Annotated[
    str,
    Field(min_length=1, max_length=64, description="masked phone: at most 3 leading + 4 trailing digits"),
    AfterValidator(_masked_phone),
]
