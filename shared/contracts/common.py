"""Field types shared by several contexts' contracts."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from shared.contracts.refs import CustomerRef

__all__ = ["CustomerRef", "Masked", "Note", "StaffId"]

#: staff member id as carried in tokens and events
StaffId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]
#: a short free text written by staff (no PII by policy; bounded)
Note = Annotated[str, Field(max_length=2000)]
#: a masked display value, e.g. ``138****5678``
Masked = Annotated[str, Field(max_length=64)]
