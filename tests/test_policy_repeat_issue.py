"""The repeat_issue policy: the N-th similar ticket of a requester or organization in D days."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from builders import LADDER, T0, comment, ticket
from pydantic import ValidationError

from connector.ticket import Priority, TierChange
from plugins import repeat_issue
from plugins.decision import decide
from plugins.history import RELATED_LIMIT, MemoryHistory, PastTicket
from plugins.manager import PolicyHost
from plugins.proposal import PolicyContext
from plugins.repeat_issue import jaccard, subject_words

NOW = T0 + timedelta(minutes=5)


class FakeHistory:
    """In-memory ``ctx.history``: filters like the store does (but for ``until``, so that the
    policy's own check of it is tested), and remembers the calls."""

    def __init__(self, *tickets: PastTicket) -> None:
        self.tickets = list(tickets)
        self.calls: list[dict] = []

    def related(self, platform, *, requester_id, organization_id, since, until=None):
        self.calls.append({"requester_id": requester_id, "organization_id": organization_id,
                           "since": since, "until": until})
        return sorted(
            (p for p in self.tickets if p.platform == platform and p.created_at >= since
             and ((requester_id is not None and p.requester_id == requester_id)
                  or (organization_id is not None and p.organization_id == organization_id))),
            key=lambda p: p.created_at, reverse=True)

    def recent(self, platform, *, since):
        return [p for p in self.tickets if p.platform == platform and p.created_at >= since]


def past(ref: str, subject: str, day: int, *, requester: str | None = "1",
         organization: str | None = "77", form: str | None = None,
         tags: tuple[str, ...] = (), first_message: str | None = None) -> PastTicket:
    return PastTicket(platform="zendesk", ref=ref, subject=subject, tags=tags, form=form,
                      requester_id=requester, organization_id=organization,
                      created_at=datetime(2026, 11, day, 14, 30, tzinfo=UTC), status="solved",
                      first_message=first_message)


def current(subject: str = "Invoice for October missing", **changes):
    t = replace(ticket(ref="300"), subject=subject, organization_id="77", tags=("billing",))
    return replace(t, **changes)


def itself(t) -> PastTicket:
    """The history holds the ticket being evaluated too."""
    return PastTicket(platform=t.platform, ref=t.ref, subject=t.subject, tags=t.tags,
                      form=t.form, requester_id=t.requester_id,
                      organization_id=t.organization_id, created_at=t.created_at,
                      status=t.status)


def evaluate(t, *earlier: PastTicket, history: FakeHistory | None = None, **options):
    history = history or FakeHistory(itself(t), *earlier)
    ctx = PolicyContext(policy="repeat_issue", options=repeat_issue.Options(**options), now=NOW,
                        tiers=LADDER, history=history)
    return repeat_issue.tierlift_evaluate(ticket=t, ctx=ctx)


OCTOBER = (past("101", "Invoice missing for October", 2),
           past("115", "RE: invoice #4711 missing for october!!", 12))


def test_the_third_similar_ticket_of_a_requester_goes_one_tier_up_listing_the_earlier_ones():
    t = current()
    proposal = evaluate(t, *OCTOBER)
    assert proposal.policy == "repeat_issue"
    assert (proposal.tier, proposal.steps_up, proposal.priority, proposal.route) == \
        (None, 1, None, None)
    [evidence] = proposal.evidence
    assert evidence.key == "repeat"
    assert evidence.summary == "3 similar tickets from the same requester in 30 days " \
        "(this one included); earlier: #101 (2026-11-02), #115 (2026-11-12)"
    assert evidence.quote == "Invoice for October missing"
    assert evidence.at == t.created_at
    assert proposal.suggestion.startswith("Look for the root cause behind #101, #115 and this")
    assert "problem ticket" in proposal.suggestion
    assert decide(t, [proposal], LADDER).to_tier == "L2"


def test_the_history_is_asked_for_the_requester_and_the_organization_over_the_window():
    history = FakeHistory(*OCTOBER)
    evaluate(current(), history=history)
    assert history.calls == [{"requester_id": "1", "organization_id": "77",  # up to its creation
                              "since": T0 - timedelta(days=30), "until": T0}]


def test_a_backlog_evaluated_much_later_gets_the_same_answer():
    t = current()
    later = PolicyContext(policy="repeat_issue", options=repeat_issue.Options(),
                          now=NOW + timedelta(days=45), tiers=LADDER,
                          history=FakeHistory(itself(t), *OCTOBER))
    assert repeat_issue.tierlift_evaluate(ticket=t, ctx=later) == evaluate(t, *OCTOBER)
    edge = replace(past("99", "Invoice missing for October", 2),
                   created_at=T0 - timedelta(days=29, hours=23))  # 29 days before creation
    assert evaluate(t, edge, OCTOBER[1]) is not None


def test_a_flood_of_later_tickets_does_not_hide_the_earlier_ones():
    """Read up to the ticket's creation: evaluated after its organization filed more tickets
    than the history answers, it still finds its colleagues' similar tickets."""
    colleagues = (past("120", "Invoice missing for October", 13, requester="2"),
                  past("121", "October invoice missing", 2, requester="4"))
    flood = (replace(past(f"f{n}", f"Question {n} about the API", 20, requester="3"),
                     created_at=T0 + timedelta(minutes=n)) for n in range(1, RELATED_LIMIT + 1))
    t = current()
    history = MemoryHistory([itself(t), *colleagues, *flood])
    later = PolicyContext(policy="repeat_issue", options=repeat_issue.Options(),
                          now=NOW + timedelta(days=1), tiers=LADDER, history=history)
    proposal = repeat_issue.tierlift_evaluate(ticket=t, ctx=later)
    assert "#121 (2026-11-02), #120 (2026-11-13)" in proposal.evidence[0].summary


def test_two_similar_tickets_are_not_enough():
    assert evaluate(current(), OCTOBER[0]) is None


@pytest.mark.parametrize("other", [
    replace(past("90", "Invoice missing for October", 2),
            created_at=T0 - timedelta(days=30, minutes=1)),  # just outside 30 days
    past("116", "Cannot log in to the dashboard", 13),  # another issue
    past("117", "Invoice missing for October", 13, requester="2", organization="78"),  # others
    past("118", "Invoice missing for October", 13, requester="2", organization=None),
    past("119", "Invoice missing for November", 13),  # 2 of 4 words: 0.5 < 0.6
])
def test_near_misses_do_not_count(other):
    assert evaluate(current(), OCTOBER[0], other) is None


def test_a_ticket_listed_twice_by_the_history_counts_once():
    assert evaluate(current(), OCTOBER[0], OCTOBER[0]) is None


def test_later_tickets_and_the_ticket_itself_do_not_count():
    t = current(created_at=T0 - timedelta(days=1))
    later = replace(past("400", "Invoice missing for October", 20), created_at=T0)
    assert evaluate(t, OCTOBER[0], later) is None
    assert evaluate(t, OCTOBER[0], itself(t)) is None  # listed twice, still itself


def test_the_organization_counts_too_and_the_summary_says_so():
    colleague = past("120", "Invoice missing for October", 13, requester="2")
    proposal = evaluate(current(), OCTOBER[0], colleague)
    assert proposal.evidence[0].summary == "3 similar tickets from the same organization in " \
        "30 days (this one included); earlier: #101 (2026-11-02), #120 (2026-11-13)"


def test_match_by_requester_only_ignores_colleagues():
    colleague = past("120", "Invoice missing for October", 13, requester="2")
    history = FakeHistory(OCTOBER[0], colleague)
    assert evaluate(current(), history=history, match_by=["requester"]) is None
    assert history.calls[0]["organization_id"] is None


def test_match_by_organization_only():
    colleague = past("120", "Invoice missing for October", 13, requester="2")
    history = FakeHistory(OCTOBER[0], colleague)
    proposal = evaluate(current(), history=history, match_by=["organization"])
    assert "same organization" in proposal.evidence[0].summary
    assert history.calls[0]["requester_id"] is None


def test_a_ticket_without_requester_or_organization_asks_nothing():
    history = FakeHistory(*OCTOBER)
    t = current(requester_id=None, organization_id=None)
    assert evaluate(t, history=history) is None
    assert history.calls == []


def test_a_history_matching_missing_organizations_to_each_other_is_not_trusted():
    loose = FakeHistory()
    loose.related = lambda platform, **kw: [  # returns another requester's org-less tickets
        past("130", "Invoice missing for October", 10, requester="9", organization=None),
        past("131", "Invoice missing for October", 11, requester="9", organization=None)]
    assert evaluate(current(organization_id=None), history=loose) is None


def test_same_form_counts_only_when_switched_on_and_both_have_one():
    earlier = (past("140", "Export to CSV broken", 5, form="360001"),
               past("141", "Cannot change my password", 9, form="360001"))
    t = current(subject="Add a user to our plan", form="360001")
    assert evaluate(t, *earlier) is None
    assert evaluate(t, *earlier, same_form=True).evidence[0].summary.startswith("3 similar")
    assert evaluate(replace(t, form=None), *earlier, same_form=True) is None


def test_sharing_a_configured_tag_makes_tickets_similar():
    earlier = (past("150", "Export to CSV broken", 5, tags=("billing", "product_export")),
               past("151", "Numbers wrong in the export", 9, tags=("product_export",)))
    t = current(subject="Report is empty", tags=("product_export",))
    assert evaluate(t, *earlier) is None
    assert evaluate(t, *earlier, tags=["product_export"]) is not None
    # The tag must be on this ticket too, and be one of the configured ones.
    assert evaluate(current(subject="Report is empty"), *earlier,
                    tags=["product_export"]) is None
    assert evaluate(t, *earlier, tags=["billing"]) is None


def test_this_tickets_first_message_naming_the_earlier_subjects_makes_them_similar():
    t = current(subject="Billing question",
                comments=(comment(1, "Hi, the invoice for October is missing again."),))
    assert evaluate(t, *OCTOBER).evidence[0].summary.startswith("3 similar tickets")
    assert evaluate(t, *OCTOBER, first_messages=False, text_similarity=1) is None


def test_earlier_first_messages_naming_this_subject_make_them_similar():
    earlier = (past("180", "Billing", 3, first_message="The invoice for October is missing."),
               past("181", "Question", 9, first_message="Our October invoice: missing?!"))
    assert evaluate(current(), *earlier) is not None
    assert evaluate(current(), *earlier, first_messages=False, text_similarity=1) is None


@pytest.mark.parametrize("subject, message", [
    ("Invoice for October missing", "The invoice for November is missing."),  # not every word
    ("Invoice", "Where is the invoice for October?"),  # one word is not enough
    ("Invoice for October missing", "Login fails. " + "x " * 400 + "invoice october missing"),
])
def test_first_message_near_misses(subject, message):
    earlier = (past("190", "Billing", 3, first_message=message),
               past("191", "Question", 9, first_message=message))
    assert evaluate(current(subject=subject), *earlier) is None


@pytest.mark.parametrize("similarity, fires", [(0.6, False), (0.5, True)])
def test_subject_similarity_option(similarity, fires):
    t = current(subject="Invoice missing for November")
    assert (evaluate(t, *OCTOBER, subject_similarity=similarity) is not None) is fires


def test_count_and_days_options():
    assert evaluate(current(), OCTOBER[1], count=2) is not None
    assert evaluate(current(), *OCTOBER, days=10) is None  # #101 (Nov 2) is 18 days old
    assert evaluate(current(), *OCTOBER, count=4) is None


def test_fires_once_per_ticket_and_not_again_after_a_move_back_down():
    t = current()
    proposal = evaluate(t, *OCTOBER)
    used = {("repeat_issue", "repeat")}
    assert decide(t, [proposal], LADDER, used).stale == (proposal,)
    history = (TierChange(T0, "L1"), TierChange(T0 + timedelta(hours=1), "L2"),
               TierChange(T0 + timedelta(hours=2), "L1"))
    back_down = replace(t, tier_history=history)
    fourth = past("160", "October invoice missing", 19)
    assert decide(back_down, [evaluate(back_down, *OCTOBER, fourth)], LADDER, used).to_tier \
        is None


def test_the_target_counts_from_the_tier_the_ticket_was_created_in():
    history = (TierChange(T0, "L1"), TierChange(T0 + timedelta(minutes=2), "L2"))
    t = current(tier="L2", tier_history=history)
    decision = decide(t, [evaluate(t, *OCTOBER)], LADDER)
    assert decision.to_tier is None
    assert decision.evidence_to_record() == [("repeat_issue", "repeat", "satisfied")]


def test_a_long_list_is_cut_after_ten():
    earlier = [past(str(200 + day), "Invoice missing for October", day) for day in range(1, 13)]
    summary = evaluate(current(), *earlier).evidence[0].summary
    assert summary.startswith("13 similar tickets from the same requester in 30 days (this one "
                              "included); earlier: #201 (2026-11-01), #202 (2026-11-02), ")
    assert summary.endswith("#210 (2026-11-10) and 2 more")


def test_options_steps_up_and_priority():
    t = current()
    proposal = evaluate(t, *OCTOBER, steps_up=2, priority="urgent")
    assert proposal.steps_up == 2 and proposal.priority is Priority.URGENT
    assert decide(t, [proposal], LADDER).to_tier == "L3"


@pytest.mark.parametrize("subject, words", [
    ("Re: Invoice #4711 missing for October!!", {"invoice", "missing", "october"}),
    ("FW: Can't log in to the dashboard", {"log", "dashboard"}),
    ("Printers and scanners", {"printer", "scanner"}),
    ("Access to the bus", {"access", "bus"}),
    ("Größe der Übersicht", {"größe", "der", "übersicht"}),
    ("12345 ?!", set()),
    ("", set()),
    (None, set()),  # a helpdesk may send no subject at all
])
def test_subject_normalization(subject, words):
    assert subject_words()(subject) == words


def test_jaccard():
    a, b = frozenset({"invoice", "missing", "october"}), frozenset({"invoice", "october"})
    assert jaccard(a, b) == pytest.approx(2 / 3)
    assert jaccard(a, frozenset()) == 0 and jaccard(frozenset(), frozenset()) == 0


def test_empty_subjects_are_similar_to_nothing():
    earlier = (past("170", "???", 5), past("171", "", 9))
    assert evaluate(current(subject="!!!"), *earlier) is None


@pytest.mark.parametrize("options, field", [
    ({"count": 1}, "count"),
    ({"count": -3}, "count"),
    ({"days": 0}, "days"),
    ({"match_by": []}, "match_by"),
    ({"match_by": ["team"]}, "match_by"),
    ({"subject_similarity": 0}, "subject_similarity"),
    ({"subject_similarity": 1.5}, "subject_similarity"),
    ({"tags": "billing"}, "tags"),
    ({"steps_up": 0}, "steps_up"),
    ({"priority": "asap"}, "priority"),
])
def test_invalid_options_are_refused_naming_the_field(options, field):
    with pytest.raises(ValidationError) as caught:
        repeat_issue.Options(**options)
    assert {e["loc"][0] for e in caught.value.errors()} == {field}


def test_option_cleanup():
    options = repeat_issue.Options(match_by=["organization", "organization"],
                                   tags=[" product_export ", ""], priority="")
    assert options.match_by == ["organization"]
    assert options.tags == ["product_export"] and options.priority is None


def test_registered_with_its_needs_and_configurable_through_the_host():
    host = PolicyHost(load_entry_points=False)
    spec = host.specs()["repeat_issue"]
    assert spec.options is repeat_issue.Options
    assert spec.needs == {"history", "comments", "related"}
    enabled = host.configure({"repeat_issue": {"enabled": True, "count": 2}})
    t = current()
    result = enabled.evaluate(t, now=NOW, tiers=LADDER, history=FakeHistory(itself(t),
                                                                           OCTOBER[0]))
    assert [p.evidence[0].key for p in result.proposals] == ["repeat"]


def test_the_same_problem_told_in_other_words_or_languages_is_similar():
    """Logged out of the phone app three times: different subjects, a symptom in common."""
    earlier = (past("401", "app keeps logging me out", 19,
                    first_message="every morning the iPhone app wants me to log in again"),
               past("402", "Abgemeldet", 8,
                    first_message="Die App auf dem iPhone hat mich wieder abgemeldet."))
    t = current(subject="Signed out every morning - 3rd ticket about this",
                comments=(comment(1, "the iOS app is logging me out every morning again"),))
    assert evaluate(t, *earlier).evidence[0].summary.startswith("3 similar tickets")
    assert evaluate(t, *earlier, text_similarity=1) is None
    other = (past("403", "Invoice copy", 19, first_message="please send the March invoice"),
             past("404", "Add a seat", 8, first_message="we need one more licence"))
    assert evaluate(t, *other) is None
