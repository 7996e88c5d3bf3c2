"""Property: whatever people try, in any order, a two-person RSSI + director step is approved exactly when
two distinct people, together holding both roles and each allowed for the clinic, have approved."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rempart.errors import StateError
from rempart.respond import approvals
from rempart.respond.plan import Approval

PEOPLE = [
    {"id": "rssi1", "name": "R1", "roles": ["rssi"], "establishments": []},
    {"id": "rssi2", "name": "R2", "roles": ["rssi"], "establishments": []},
    {"id": "dir-a", "name": "DA", "roles": ["clinic_director"], "establishments": ["a"]},
    {"id": "dir-b", "name": "DB", "roles": ["clinic_director"], "establishments": ["b"]},
    {"id": "both", "name": "RD", "roles": ["rssi", "clinic_director"], "establishments": []},
    {"id": "oncall", "name": "O", "roles": ["it_oncall"], "establishments": []},
]
POLICY = Approval(approvers=2, roles=["rssi", "clinic_director"], all_roles=True)
ROLES = {p["id"]: set(p["roles"]) for p in PEOPLE}
ALLOWED = {p["id"]: (not p["establishments"] or "a" in p["establishments"]) for p in PEOPLE}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([p["id"] for p in PEOPLE] + ["stranger"]), max_size=8))
def test_accepted_approvals_satisfy_the_policy_exactly(attempts: list[str]) -> None:
    decisions: list[tuple[str, str]] = []
    for person in attempts:
        try:
            approvals.check_approver(POLICY, PEOPLE, decisions, person, "a", "step 6")
        except StateError:
            continue
        decisions.append((person, "approve"))
    who = [p for p, _ in decisions]
    assert len(who) == len(set(who))  # never the same person twice
    assert all(ALLOWED[p] and ROLES[p] & {"rssi", "clinic_director"} for p in who)
    covered = set().union(*(ROLES[p] for p in who)) if who else set()
    expected = len(who) >= 2 and {"rssi", "clinic_director"} <= covered
    assert (approvals.missing(POLICY, PEOPLE, decisions) == "") == expected
