"""Picking the customer of a visit or complaint: through the vault, never by typing a reference.

Staff type what the customer presents — a name and a mobile or ID-card number — into the form;
the console registers it in reception's vault (``POST /branches/{b}/customers``, ``pii.register``:
the same person always gets the same reference) and uses only the answer: the pseudonymous
``customer_ref`` and the masked name. The raw values go from the browser to the console to the
vault and nowhere else: never into a visit's or complaint's body, never back into a page (a form
shown again carries the customer already picked — hidden reference, masked name — or empty
fields), never into a log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from services.console.errors import FormErrors
from services.console.pages.page import Page
from shared.contracts.refs import is_pseudonym

#: the form's inputs → the vault's registration fields
TYPED = {"customer_name": "name", "customer_phone": "phone", "customer_id_number": "id_number"}
#: the customer already picked, carried by a form shown again
CHOSEN = ("customer_ref", "customer_display")


@dataclass
class Pick:
    ref: str | None = None
    display: str | None = None
    errors: FormErrors = field(default_factory=FormErrors)

    @property
    def ok(self) -> bool:
        return not self.errors

    def shown(self, form: Mapping[str, object]) -> dict[str, object]:
        """``form`` as it may be shown again: without what was typed, with the customer picked."""
        kept = {k: v for k, v in form.items() if k not in TYPED and k not in CHOSEN}
        if self.ref:
            kept.update(customer_ref=self.ref, customer_display=self.display or "")
        return kept


async def pick_customer(
    page: Page, form: Mapping[str, str], *, required: bool, idempotency_key: str | None = None
) -> Pick:
    """The customer of the form: looked up (registered) in the vault from what was typed, else
    the one picked before; an error next to the name field when one is required and missing."""
    t = page.t
    typed = {api: form[name].strip() for name, api in TYPED.items() if form.get(name, "").strip()}
    if typed:
        if "name" not in typed:
            return Pick(errors=FormErrors(fields={"customer_name": t("customer.name_needed")}, status=422))
        outcome = await page.command(
            "reception", f"/branches/{page.branch_id}/customers", action="pii.register", body=typed,
            form_fields=tuple(TYPED.values()), idempotency_key=idempotency_key,
        )  # fmt: skip
        if not outcome.ok:
            errors = outcome.errors
            errors.fields = {f"customer_{name}": message for name, message in errors.fields.items()}
            return Pick(errors=errors)
        masked = outcome.body.get("masked") or {}
        return Pick(str(outcome.body["customer_ref"]), str(masked.get("name") or ""))
    chosen = form.get("customer_ref", "").strip()
    if chosen:
        if not is_pseudonym(chosen):  # only what the vault issued comes back in the hidden field
            return Pick(errors=FormErrors(fields={"customer_name": t("customer.invalid")}, status=422))
        return Pick(chosen, form.get("customer_display", "").strip() or None)
    if required:
        return Pick(errors=FormErrors(fields={"customer_name": t("customer.required")}, status=422))
    return Pick()
