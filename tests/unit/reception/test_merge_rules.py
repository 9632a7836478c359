"""The vault's duplicate-merge rules, pure: when two records may become one customer, and what
the survivor takes from the merged record."""

from __future__ import annotations

from services.reception.vault_maintenance import Record, check_merge, survivor_fills
from shared.contracts.customers import MergeBasis

ID = "11010519800101001X"  # fake: never a real person's number
PHONE = "13800000000"


def by_id(ref: str = "survivor-ref-aaaa", **kw: object) -> Record:
    return Record(ref, False, None, name="Test Person", id_number=ID, **kw)  # type: ignore[arg-type]


def by_phone(ref: str = "merged-ref-bbbb", **kw: object) -> Record:
    return Record(ref, False, None, name="Test Person", phone=PHONE, **kw)  # type: ignore[arg-type]


def test_same_id_number_in_both_records_merges() -> None:
    merged = by_phone(id_number=ID)
    assert check_merge(by_id(), merged, MergeBasis.same_id_number) is None


def test_same_id_number_is_refused_when_one_record_has_none_or_they_differ() -> None:
    assert "need a id_number" in (check_merge(by_id(), by_phone(), MergeBasis.same_id_number) or "")
    other = by_phone(id_number="110105198001010029")
    assert "different id_numbers" in (check_merge(by_id(), other, MergeBasis.same_id_number) or "")


def test_same_phone_needs_the_same_phone_in_both() -> None:
    survivor = by_id(phone=PHONE)
    assert check_merge(survivor, by_phone(), MergeBasis.same_phone) is None
    assert check_merge(by_id(phone="13900000000"), by_phone(), MergeBasis.same_phone) is not None


def test_staff_confirmation_merges_without_matching_fields_even_an_erased_record() -> None:
    erased = Record("merged-ref-bbbb", True, None)
    assert check_merge(by_id(), erased, MergeBasis.confirmed_by_staff) is None
    assert "erased" in (check_merge(by_id(), erased, MergeBasis.same_phone) or "")


def test_no_self_merge_no_chains_and_no_erased_survivor() -> None:
    assert "itself" in (check_merge(by_id(), by_id(), MergeBasis.confirmed_by_staff) or "")
    merged_away = Record("survivor-ref-aaaa", False, "third-ref-cccc", name="X", id_number=ID)
    refusal = check_merge(merged_away, by_phone(), MergeBasis.confirmed_by_staff)
    assert "merge into that one" in (refusal or "")
    taken = Record("merged-ref-bbbb", False, "third-ref-cccc", name="X", phone=PHONE)
    assert "already merged" in (check_merge(by_id(), taken, MergeBasis.confirmed_by_staff) or "")
    gone = Record("survivor-ref-aaaa", True, None)
    assert "erased" in (check_merge(gone, by_phone(), MergeBasis.confirmed_by_staff) or "")


def test_merging_again_into_the_same_survivor_is_allowed_idempotently() -> None:
    again = Record("merged-ref-bbbb", False, "survivor-ref-aaaa")
    assert check_merge(by_id(), again, MergeBasis.confirmed_by_staff) is None


def test_the_survivor_takes_only_what_it_lacks() -> None:
    assert survivor_fills(by_id(), by_phone()) == {"phone": PHONE}
    assert survivor_fills(by_id(phone="13900000000"), by_phone()) == {}
    assert survivor_fills(by_phone(), by_id()) == {"id_number": ID}


def test_a_record_never_shows_its_values() -> None:
    assert PHONE not in repr(by_phone()) and ID not in repr(by_id())
