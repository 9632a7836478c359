"""The alias rule every read model keyed by customer shares (``shared/customer_aliases.py``), pure:
any arrival order of the vault's merges and reversals (redeliveries included) gives the aliases the
vault's own history gives; chains of merges resolve to their end; a reversal undoes only its merge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.customer_aliases import AliasFact, latest_aliases, root_of, same_customer

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
REFS = [f"ref_{c}" for c in "abcde"]


def vault_history(steps: list[tuple[bool, int, int]]) -> tuple[list[AliasFact], dict[str, str]]:
    """Play ``steps`` against the vault's merge rules (``check_merge``: no merge into a merged ref,
    a merged ref is not merged again; a reversal undoes an existing merge): the facts it records
    and where each merged ref points at the end."""
    merged_into: dict[str, str] = {}
    facts: list[AliasFact] = []
    for n, (merge, i, j) in enumerate(steps):
        at = T0 + timedelta(minutes=n)
        merged, survivor = REFS[i], REFS[j]
        if merge:
            if merged == survivor or survivor in merged_into or merged in merged_into:
                continue
            merged_into[merged] = survivor
            facts.append(AliasFact(True, merged, survivor, at))
        elif merged_into.get(merged) == survivor:
            del merged_into[merged]
            facts.append(AliasFact(False, merged, survivor, at))
    return facts, merged_into


steps = st.lists(
    st.tuples(st.booleans(), st.integers(0, len(REFS) - 1), st.integers(0, len(REFS) - 1)), max_size=25
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps, st.randoms(use_true_random=False), st.integers(0, 5))
def test_any_arrival_order_and_redelivery_give_the_vaults_aliases(
    history: list[tuple[bool, int, int]], rnd: object, redelivered: int
) -> None:
    facts, expected = vault_history(history)
    arrived = facts + facts[:redelivered]  # some delivered twice
    rnd.shuffle(arrived)  # type: ignore[attr-defined]
    got = latest_aliases(arrived)
    assert {ref: survivor for ref, (survivor, _) in got.items()} == expected
    # applied one batch at a time, in any order, the stored facts end the same
    assert latest_aliases(reversed(arrived)) == got


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps)
def test_every_ref_of_a_customer_resolves_to_the_same_end_of_its_chain(
    history: list[tuple[bool, int, int]],
) -> None:
    facts, merged_into = vault_history(history)
    aliases = {ref: survivor for ref, (survivor, _) in latest_aliases(facts).items()}
    for ref in REFS:
        root = root_of(aliases, ref)
        assert root not in aliases  # the end of a chain is not merged itself
        if ref in merged_into:
            assert same_customer(aliases, ref, merged_into[ref])


def test_a_merge_of_a_merge_joins_all_three_and_its_reversal_only_undoes_itself() -> None:
    a, b, c = REFS[:3]
    facts = [AliasFact(True, a, b, T0), AliasFact(True, b, c, T0 + timedelta(minutes=1))]
    aliases = {r: s for r, (s, _) in latest_aliases(facts).items()}
    assert root_of(aliases, a) == root_of(aliases, b) == root_of(aliases, c) == c
    facts.append(AliasFact(False, b, c, T0 + timedelta(minutes=2)))
    aliases = {r: s for r, (s, _) in latest_aliases(facts).items()}
    assert root_of(aliases, a) == b and root_of(aliases, c) == c


def test_a_reversal_arriving_before_its_merge_still_wins() -> None:
    a, b = REFS[:2]
    merge, reversal = AliasFact(True, a, b, T0), AliasFact(False, a, b, T0 + timedelta(minutes=1))
    assert latest_aliases([reversal, merge]) == latest_aliases([merge, reversal]) == {}
    # at the same instant the reversal wins too
    assert latest_aliases([AliasFact(False, a, b, T0), merge]) == {}


def test_a_cycle_cannot_loop() -> None:
    assert root_of({"x": "y", "y": "x"}, "x") in {"x", "y"}
