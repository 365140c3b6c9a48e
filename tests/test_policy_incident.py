"""The incident policy: many look-alike tickets in minutes become one incident, tagged as one."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest
from builders import LADDER, T0, ticket
from pydantic import ValidationError

from connector.ticket import Priority
from plugins import incident
from plugins.decision import decide
from plugins.history import PastTicket
from plugins.manager import PolicyHost
from plugins.proposal import PolicyContext

NOW = T0 + timedelta(minutes=21)
TAG = re.compile(r"tierlift_incident_[0-9a-f]{8}")


class FakeHistory:
    """In-memory ``ctx.history``; ``recent`` filters like the store does (newest first)."""

    def __init__(self, *tickets: PastTicket) -> None:
        self.tickets = list(tickets)

    def related(self, platform, *, requester_id, organization_id, since):
        return []

    def recent(self, platform, *, since):
        return sorted((p for p in self.tickets
                       if p.platform == platform and p.created_at >= since),
                      key=lambda p: p.created_at, reverse=True)


def new(ref: str, subject: str, minute: int, requester: str | None = None,
        tags: tuple[str, ...] = ()):
    """A ticket created ``minute`` minutes after 09:00, requester ``c<ref>`` by default."""
    return replace(ticket(ref=ref, tags=tags), subject=subject,
                   requester_id=requester if requester is not None else f"c{ref}",
                   created_at=T0 + timedelta(minutes=minute))


def indexed(t) -> PastTicket:
    return PastTicket(platform=t.platform, ref=t.ref, subject=t.subject, tags=t.tags,
                      form=t.form, requester_id=t.requester_id,
                      organization_id=t.organization_id, created_at=t.created_at,
                      status=t.status)


OUTAGE = [
    new("101", "Login failing with error 500", 2),
    new("102", "Login failing: error 500!", 5),
    new("103", "URGENT login failing, error 500", 9),
    new("104", "Error 500 when I login", 14),
]
NOISE = [
    new("90", "Invoice missing for October", 3),
    new("91", "Login to billing portal slow", 6),
    new("92", "Please help", 7),
]
FIFTH = new("105", "Login failing (error 500) - please help", 20)


def evaluate(t, *others, now=NOW, **options):
    """Evaluate ``t`` with a history of ``others`` and ``t`` itself (the store indexes it)."""
    history = FakeHistory(*(indexed(o) for o in others), indexed(t))
    ctx = PolicyContext(policy="incident", options=incident.Options(**options), now=now,
                        tiers=LADDER, history=history)
    return incident.tierlift_evaluate(ticket=t, ctx=ctx)


def test_the_fifth_look_alike_ticket_in_30_minutes_routes_an_incident():
    proposal = evaluate(FIFTH, *OUTAGE, *NOISE)
    assert proposal.policy == "incident"
    assert (proposal.tier, proposal.steps_up, proposal.route, proposal.priority) == \
        (None, 0, "incident", Priority.URGENT)
    [tag] = proposal.add_tags
    assert TAG.fullmatch(tag)
    assert proposal.also_evaluate == ("101", "102", "103", "104")
    [evidence] = proposal.evidence
    assert evidence.key == f"incident:{tag}"
    assert evidence.summary == \
        "5 tickets in 30 min look like one incident: #101, #102, #103, #104, #105"
    assert evidence.quote == "Login failing (error 500) - please help"
    assert evidence.at == T0 + timedelta(minutes=2)  # when the first of them came in
    assert tag in proposal.suggestion
    decision = decide(FIFTH, [proposal], LADDER)
    assert (decision.route, decision.to_tier, decision.priority) == \
        ("incident", None, Priority.URGENT)
    assert decision.add_tags == (tag,)
    assert decision.also_evaluate == ("101", "102", "103", "104")


def test_four_look_alikes_are_not_an_incident_yet():
    assert evaluate(FIFTH, *OUTAGE[:3], *NOISE) is None


def test_every_member_joins_with_the_same_tag_and_key():
    everyone = [*OUTAGE, FIFTH]
    now = NOW + timedelta(minutes=1)
    proposals = {t.ref: evaluate(t, *(o for o in everyone if o is not t), *NOISE, now=now)
                 for t in everyone}
    tags = {p.add_tags for p in proposals.values()}
    keys = {p.evidence[0].key for p in proposals.values()}
    assert len(tags) == 1 and len(keys) == 1
    assert proposals["102"].also_evaluate == ("101", "103", "104", "105")
    assert {p.evidence[0].summary for p in proposals.values()} == \
        {"5 tickets in 30 min look like one incident: #101, #102, #103, #104, #105"}


def test_members_that_already_carry_the_tag_are_not_evaluated_again():
    [tag] = evaluate(FIFTH, *OUTAGE).add_tags
    tagged = [replace(t, tags=(*t.tags, tag)) for t in OUTAGE[:2]]
    proposal = evaluate(FIFTH, *tagged, *OUTAGE[2:])
    assert proposal.add_tags == (tag,)
    assert proposal.also_evaluate == ("103", "104")


def test_each_ticket_is_escalated_into_the_incident_once():
    proposal = evaluate(FIFTH, *OUTAGE)
    [tag] = proposal.add_tags
    assert decide(FIFTH, [proposal], LADDER, {("incident", f"incident:{tag}")}).stale == \
        (proposal,)
    # Back from the incident team (tag kept), re-evaluated: the same key, nothing new.
    returned = replace(FIFTH, tags=(*FIFTH.tags, tag))
    assert evaluate(returned, *OUTAGE).evidence[0].key == f"incident:{tag}"


def test_later_arrivals_join_the_same_incident_even_after_the_first_left_the_window():
    [tag] = evaluate(FIFTH, *OUTAGE).add_tags
    # The store has seen the members again after tierlift tagged them.
    members = [replace(t, tags=(*t.tags, tag)) for t in (*OUTAGE, FIFTH)]
    sixth = new("106", "login failing error 500", 25)
    proposal = evaluate(sixth, *members, now=T0 + timedelta(minutes=26))
    assert proposal.add_tags == (tag,) and proposal.also_evaluate == ()
    members.append(replace(sixth, tags=(*sixth.tags, tag)))
    # 09:40: #101, #102 and #103 are older than 30 minutes; #104, #105, #106 (tagged) and a new
    # untagged #107 are left in the window with #108.
    members.append(new("107", "Login failing", 30))
    eighth = new("108", "Error 500 on login, login failing", 40)
    proposal = evaluate(eighth, *members, now=T0 + timedelta(minutes=40))
    assert proposal.add_tags == (tag,)
    assert proposal.evidence[0].key == f"incident:{tag}"
    assert proposal.evidence[0].summary == \
        "5 tickets in 30 min look like one incident: #104, #105, #106, #107, #108"
    assert proposal.also_evaluate == ("107",)


def test_the_same_words_on_another_day_are_another_incident():
    [tag] = evaluate(FIFTH, *OUTAGE).add_tags
    next_day = [replace(t, ref=str(int(t.ref) + 1000), created_at=t.created_at + timedelta(days=1))
                for t in (*OUTAGE, FIFTH)]
    *earlier, last = next_day
    [other] = evaluate(last, *earlier, now=NOW + timedelta(days=1)).add_tags
    assert other != tag


def test_one_customer_writing_five_times_is_not_an_outage():
    same_person = [replace(t, requester_id="c7") for t in OUTAGE]
    t = replace(FIFTH, requester_id="c7")
    assert evaluate(t, *same_person) is None
    assert evaluate(replace(FIFTH, requester_id="c8"), *same_person) is None  # two people
    assert evaluate(t, *same_person, distinct_requesters=False) is not None


def test_a_ticket_listed_twice_by_the_history_counts_once():
    assert evaluate(FIFTH, *OUTAGE[:3], OUTAGE[2], distinct_requesters=False) is None


def test_tickets_without_a_requester_count_one_each():
    anonymous = [replace(t, requester_id=None) for t in OUTAGE]
    assert evaluate(replace(FIFTH, requester_id=None), *anonymous) is not None


def test_a_ticket_older_than_the_window_does_not_join():
    old = new("50", "Login failing with error 500", -15)
    assert evaluate(old, *OUTAGE, FIFTH) is None


def test_members_older_than_the_window_do_not_count():
    assert evaluate(FIFTH, *OUTAGE, now=T0 + timedelta(minutes=33)) is None  # #101, #102 out
    assert evaluate(FIFTH, *OUTAGE, now=T0 + timedelta(minutes=33), minutes=40) is not None


@pytest.mark.parametrize("subject", ["Chat with Visitor 4711", "Help please!", "Question",
                                     "Re: ticket #12", "Not working"])
def test_generic_subjects_are_no_signature(subject):
    crowd = [new(str(200 + n), subject, n) for n in range(8)]
    assert evaluate(new("300", subject, 20), *crowd) is None


def test_ignore_words_drop_a_product_name_that_makes_everything_look_alike():
    crowd = [new("201", "Acme sync", 1), new("202", "Acme export", 2),
             new("203", "Acme login", 3), new("204", "Acme reports", 4)]
    t = new("205", "Acme invoices", 5)
    assert evaluate(t, *crowd, similarity=0.3) is not None
    assert evaluate(t, *crowd, similarity=0.3, ignore_words=["ACME"]) is None


@pytest.mark.parametrize("similarity, fires", [(0.5, True), (0.7, False)])
def test_similarity_option(similarity, fires):
    # "Error 500 when I login" shares 2 of 3 words with "login failing error".
    assert (evaluate(FIFTH, *OUTAGE, similarity=similarity) is not None) is fires


def test_count_option():
    assert evaluate(FIFTH, *OUTAGE[:2], count=3) is not None
    assert evaluate(FIFTH, *OUTAGE, count=6) is None


def test_without_route_or_priority_it_only_tags():
    proposal = evaluate(FIFTH, *OUTAGE, route="", priority="")
    assert (proposal.route, proposal.priority, proposal.steps_up) == (None, None, 0)
    decision = decide(FIFTH, [proposal], LADDER)
    assert decision.route is None and decision.to_tier is None
    assert decision.add_tags == proposal.add_tags


def test_a_long_list_of_members_is_cut_after_ten():
    crowd = [new(str(300 + n), "Login failing with error 500", n) for n in range(14)]
    summary = evaluate(new("399", "Login failing, error 500", 20), *crowd).evidence[0].summary
    assert summary == "15 tickets in 30 min look like one incident: #300, #301, #302, #303, " \
        "#304, #305, #306, #307, #308, #309 and 5 more"


@pytest.mark.parametrize("options, field", [
    ({"count": 1}, "count"),
    ({"minutes": 0}, "minutes"),
    ({"similarity": 0}, "similarity"),
    ({"similarity": 1.2}, "similarity"),
    ({"ignore_words": "acme"}, "ignore_words"),
    ({"distinct_requesters": "sometimes"}, "distinct_requesters"),
    ({"priority": "asap"}, "priority"),
])
def test_invalid_options_are_refused_naming_the_field(options, field):
    with pytest.raises(ValidationError) as caught:
        incident.Options(**options)
    assert [e["loc"][0] for e in caught.value.errors()] == [field]


def test_registered_needing_no_comments_and_configurable_through_the_host():
    host = PolicyHost(load_entry_points=False)
    spec = host.specs()["incident"]
    assert spec.options is incident.Options and spec.needs == frozenset()
    enabled = host.configure({"incident": {"enabled": True, "count": 3, "route": "ops"}})
    history = FakeHistory(*(indexed(t) for t in (*OUTAGE[:2], FIFTH)))
    result = enabled.evaluate(FIFTH, now=NOW, tiers=LADDER, history=history)
    assert [p.route for p in result.proposals] == ["ops"]
