"""The lifecycle rules as pure functions, exhaustively over statuses."""

import uuid

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from api.errors import InvalidTransition, Unprocessable
from api.tickets import lifecycle as lc

AGENT = uuid.uuid4()
OTHER = uuid.uuid4()
STATUSES = list(lc.STATUSES)


def state(status: str, assignee: uuid.UUID | None = AGENT) -> lc.State:
    return lc.State(status, assignee)


@pytest.mark.parametrize("current", [s for s in STATUSES if s not in ("new", "closed")])
def test_never_back_to_new(current):
    with pytest.raises(InvalidTransition) as exc:
        lc.apply_update(state(current), status="new")
    assert exc.value.rule == lc.NEVER_BACK_TO_NEW


def test_assigning_a_new_ticket_opens_it():
    out = lc.apply_update(state("new", None), status=None, assignee_id=AGENT)
    assert (out.status, out.assignee_id) == ("open", AGENT)


def test_assigning_with_explicit_status_keeps_that_status():
    out = lc.apply_update(state("new", None), status="pending", assignee_id=AGENT)
    assert out.status == "pending"


def test_resolve_without_assignee_assigns_the_resolving_agent():
    out = lc.apply_update(state("open", None), status="resolved", acting_agent=AGENT)
    assert (out.status, out.assignee_id) == ("resolved", AGENT)


def test_resolve_without_assignee_or_agent_is_refused():
    with pytest.raises(InvalidTransition) as exc:
        lc.apply_update(state("open", None), status="resolved", acting_agent=None)
    assert exc.value.rule == lc.RESOLVE_REQUIRES_ASSIGNEE


def test_unassigning_a_resolved_ticket_is_refused():
    with pytest.raises(InvalidTransition) as exc:
        lc.apply_update(state("resolved"), status=None, assignee_id=None, acting_agent=AGENT)
    assert exc.value.rule == lc.RESOLVE_REQUIRES_ASSIGNEE


@pytest.mark.parametrize("current", ["new", "open", "pending", "on_hold"])
def test_only_resolved_tickets_close(current):
    with pytest.raises(InvalidTransition) as exc:
        lc.apply_update(state(current), status="closed")
    assert exc.value.rule == lc.CLOSE_REQUIRES_RESOLVED


def test_closed_allows_tags_only():
    assert lc.apply_update(state("closed"), status=None, other_fields=False).status == "closed"
    for kwargs in (
        {"status": "open"},
        {"status": None, "other_fields": True},
        {"status": None, "assignee_id": OTHER},
    ):
        with pytest.raises(InvalidTransition) as exc:
            lc.apply_update(state("closed"), **kwargs)  # type: ignore[arg-type]
        assert exc.value.rule == lc.CLOSED_IS_TERMINAL


@pytest.mark.parametrize("current", ["pending", "on_hold", "resolved"])
def test_customer_reply_reopens(current):
    out = lc.apply_comment(state(current), author_type="customer", public=True, first_agent_reply_done=True)
    assert out.status == "open"


@pytest.mark.parametrize("current", ["new", "open"])
def test_customer_reply_keeps_new_and_open(current):
    out = lc.apply_comment(state(current), author_type="customer", public=True, first_agent_reply_done=False)
    assert out.status == current


def test_first_public_agent_reply_opens_and_counts():
    out = lc.apply_comment(state("new", None), author_type="agent", public=True, first_agent_reply_done=False)
    assert (out.status, out.first_agent_reply) == ("open", True)
    note = lc.apply_comment(
        state("new", None), author_type="agent", public=False, first_agent_reply_done=False
    )
    assert (note.status, note.first_agent_reply) == ("new", False)


def test_customer_on_closed_makes_follow_up_and_agents_are_refused():
    assert lc.apply_comment(
        state("closed"), author_type="customer", public=True, first_agent_reply_done=True
    ).follow_up
    with pytest.raises(InvalidTransition):
        lc.apply_comment(state("closed"), author_type="agent", public=True, first_agent_reply_done=True)


def test_customers_cannot_write_internal_notes():
    """Bad input (422 naming `public`), not a refused transition (409): no ticket state would take it."""
    with pytest.raises(Unprocessable) as exc:
        lc.apply_comment(state("open"), author_type="customer", public=False, first_agent_reply_done=True)
    assert [e.path for e in exc.value.errors or []] == ["$.public"]


@given(
    current=st.sampled_from(STATUSES),
    target=st.one_of(st.none(), st.sampled_from(STATUSES)),
    assignee=st.sampled_from([None, AGENT]),
    new_assignee=st.sampled_from([lc.UNCHANGED, None, AGENT, OTHER]),
    acting=st.sampled_from([None, AGENT]),
)
def test_invariants_hold_for_every_update(current, target, assignee, new_assignee, acting):
    assume(not (current in ("resolved", "closed") and assignee is None))  # unreachable starting states
    try:
        out = lc.apply_update(
            state(current, assignee), status=target, assignee_id=new_assignee, acting_agent=acting
        )
    except InvalidTransition:
        return
    assert out.status in STATUSES
    if current != "new":
        assert out.status != "new"
    if out.status in ("resolved", "closed"):
        assert out.assignee_id is not None
    if current == "closed":
        assert (out.status, out.assignee_id) == ("closed", assignee)
    if out.status == "closed" and current != "closed":
        assert current == "resolved"
