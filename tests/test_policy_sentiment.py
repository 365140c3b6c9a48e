"""The sentiment policy: a transparent lexicon score of what the customer wrote recently."""

from __future__ import annotations

from datetime import timedelta

import pytest
from builders import LADDER, T0, comment, ticket
from pydantic import ValidationError

from connector.ticket import AuthorRole, TierChange
from plugins import sentiment
from plugins.decision import DecisionRules, decide
from plugins.manager import PolicyHost
from plugins.proposal import PolicyContext

FURIOUS = ("This is ABSOLUTELY UNACCEPTABLE!!! I have been waiting since Monday.\n"
           "I will cancel my subscription.")
AGENT_REPLY = "Thanks, I'm looking into it right now."


def evaluate(t, **options):
    ctx = PolicyContext(policy="sentiment", options=sentiment.Options(**options), now=T0,
                        tiers=LADDER)
    return sentiment.tierlift_evaluate(ticket=t, ctx=ctx)


def test_a_furious_comment_proposes_one_tier_up_with_score_terms_and_quote():
    t = ticket(comment(1, "The export fails since this morning.", minutes=0),
               comment(2, AGENT_REPLY, role=AuthorRole.AGENT, minutes=10),
               comment(3, FURIOUS, minutes=40))
    [proposal] = evaluate(t)
    assert proposal.policy == "sentiment"
    assert proposal.steps_up == 1 and proposal.tier is None
    assert proposal.priority is None and proposal.route is None and proposal.add_tags == ()
    [evidence] = proposal.evidence
    assert evidence.key == "comment:3"
    assert evidence.summary == ("customer is very upset (score 9.5 \u2265 6): unacceptable "
                                "\u00d71.5, cancel my subscription, CAPS, !!!")
    assert evidence.quote == ("This is ABSOLUTELY UNACCEPTABLE!!! I have been waiting since "
                              "Monday. I will cancel my subscription.")
    assert evidence.at == T0 + timedelta(minutes=40)
    assert proposal.suggestion.startswith("Reply personally and soon")
    assert decide(t, [proposal], LADDER).to_tier == "L2"


@pytest.mark.parametrize("text, total, terms", [
    (FURIOUS, 9.5, "unacceptable \u00d71.5, cancel my subscription, CAPS, !!!"),
    ("Third time I'm writing. It's ridiculous and a waste of time.", 7.0,
     "ridiculous, waste of time, third time"),
    ("I'm not angry, I'm furious.", 3.0, "furious"),  # the negation stays in its clause
    ("Worst. Service. Ever. The worst!", 6.0, "worst twice"),
    ("So   fed\nup", 4.5, "fed up \u00d71.5"),
    ("WHY IS THIS STILL BROKEN?!?!", 2.5, "CAPS, ?!?!"),  # THIS, STILL, BROKEN; one run
    ("WHY IS THIS STUPID THING STILL BROKEN AGAIN?! WHY?! REALLY?!", 4.0, "CAPS, ?!"),  # capped
    ("Pasted log: ERROR FATAL HTTPS NULL DEBUG WARNING", 0.0, ""),
    ("It\u2019s not ridiculous, it isn't unacceptable, no lawyer needed.", 0.0, ""),
    ("In the worst case we roll back; worst-case we wait; at worst a day.", 0.0, ""),
    ("Disappointed, frustrated, annoyed; really upset!", 8.0,
     "upset \u00d71.5, frustrated, disappointed, annoyed"),
])
def test_score_rules(text, total, terms):
    result = sentiment.score(text)
    assert (result.total, result.terms()) == (total, terms)


def test_terms_beyond_five_are_elided():
    result = sentiment.score("awful, terrible, horrible, useless, pathetic, garbage")
    assert result.terms() == "pathetic, useless, garbage, awful, terrible, \u2026"
    assert result.total == 14.0


@pytest.mark.parametrize("body", [
    # one angry word alone, even intensified or shouted, is not enough
    "This is unacceptable.",
    "I will forward this to our lawyer.",
    "Honestly, this is absolutely ridiculous.",
    "This is UNACCEPTABLE!!!",
    # polite complaints
    "I'm very frustrated with the delay, could you please look into it? Thank you!",
    "I am a bit disappointed that the export still fails, but thanks for your help so far.",
    # negated
    "This is not unacceptable, I'm not angry, just confused: no waste of time at all.",
    "I won't cancel my subscription, I'm not furious, we don't need a lawyer.",
    # everyday uses and log output
    "Worst case, we can wait until Monday. No rush!",
    "ERROR 500 FATAL: TIMEOUT CONNECTING TO HTTPS ENDPOINT",
    "",
])
def test_near_misses_do_not_fire(body):
    assert evaluate(ticket(comment(1, body))) == []


@pytest.mark.parametrize("role, public", [
    (AuthorRole.AGENT, True),  # an agent quoting the customer back
    (AuthorRole.AGENT, False),  # an internal note
    (AuthorRole.CUSTOMER, False),  # a private comment is not the customer speaking publicly
    (AuthorRole.SELF, False),  # tierlift's own note quotes the comment
])
def test_only_public_customer_comments_count(role, public):
    assert evaluate(ticket(comment(1, FURIOUS, role=role, public=public))) == []


@pytest.mark.parametrize("body", [
    "Thanks, that works now.\n\nOn Tue, 20 Nov 2026 at 09:00, Acme Support <help@acme.example> "
    "wrote:\n> This is ABSOLUTELY UNACCEPTABLE!!! I will cancel my subscription.",
    "Thanks, that works now.\n-----Original Message-----\nFrom: me\n" + FURIOUS,
    "> This is ABSOLUTELY UNACCEPTABLE!!!\n> I will cancel my subscription.\nAll good now, thanks.",
])
def test_quoted_mail_text_is_not_what_the_customer_says_now(body):
    assert evaluate(ticket(comment(1, body))) == []


def test_only_the_most_recent_customer_comments_are_scored_each_on_its_own():
    t = ticket(comment(1, FURIOUS, minutes=0),
               comment(2, AGENT_REPLY, role=AuthorRole.AGENT, minutes=5),
               comment(3, "Ok.", minutes=10), comment(4, "Any news?", minutes=20),
               comment(5, "This is absolutely ridiculous.", minutes=30),  # 3.75
               comment(6, "Honestly, this is very frustrating!!", minutes=40),  # 3 + 1
               comment(7, AGENT_REPLY, role=AuthorRole.AGENT, minutes=50))
    assert evaluate(t) == []  # comment 1 is older than the last three; 5 and 6 do not add up
    [proposal] = evaluate(t, recent=5)
    assert proposal.evidence[0].key == "comment:1"


def test_each_furious_comment_is_its_own_evidence_strongest_first():
    t = ticket(comment(1, "Unacceptable. Third time I ask, a complete waste of time.", minutes=0),
               comment(2, FURIOUS, minutes=30),
               comment(3, "Still broken. Ridiculous and pathetic!!", minutes=60))
    proposals = evaluate(t)
    assert [(p.evidence[0].key, p.evidence[0].summary.split(":")[0]) for p in proposals] == [
        ("comment:2", "customer is very upset (score 9.5 \u2265 6)"),
        ("comment:1", "customer is very upset (score 7.5 \u2265 6)"),
        ("comment:3", "customer is very upset (score 6.5 \u2265 6)"),
    ]


def test_after_an_agent_moves_the_ticket_back_only_a_new_furious_comment_escalates_again():
    moved_back = (TierChange(T0, "L1"), TierChange(T0 + timedelta(minutes=10), "L2"),
                  TierChange(T0 + timedelta(minutes=20), "L1"))
    t = ticket(comment(1, FURIOUS, minutes=5), comment(2, "ok thanks", minutes=30),
               tier="L1", history=moved_back)
    used = {("sentiment", "comment:1")}
    decision = decide(t, evaluate(t), LADDER, used=used)
    assert not decision.writes and len(decision.stale) == 1
    again = ticket(*t.comments, comment(3, "Never again. This is the worst support ever!!!",
                                        minutes=40), tier="L1", history=moved_back)
    decision = decide(again, evaluate(again), LADDER, used=used)
    assert decision.to_tier == "L2"
    assert decision.evidence_to_record() == [("sentiment", "comment:3", "escalated")]


def test_furious_again_in_the_higher_tier_asks_for_the_next_one():
    history = (TierChange(T0, "L1"), TierChange(T0 + timedelta(minutes=10), "L2"))
    t = ticket(comment(1, FURIOUS, minutes=5), comment(2, FURIOUS, minutes=30),
               tier="L2", history=history)
    decision = decide(t, evaluate(t), LADDER, used={("sentiment", "comment:1")})
    assert decision.to_tier == "L3"


def test_gated_until_the_minimum_effort_in_the_tier_is_met():
    t = ticket(comment(1, FURIOUS, minutes=5))
    rules = DecisionRules(min_agent_replies=1)
    decision = decide(t, evaluate(t), LADDER, rules=rules)
    assert not decision.writes
    assert decision.held[0][1] == "minimum effort in the current tier not met yet"


def test_a_long_comment_is_quoted_from_the_sentence_of_its_strongest_term():
    body = ("We exported the invoices for March. " * 8 + "This is absolutely UNACCEPTABLE!!! "
            "I will cancel my subscription tomorrow.")
    [proposal] = evaluate(ticket(comment(1, body)))
    assert proposal.evidence[0].quote == ("\u2026 This is absolutely UNACCEPTABLE!!! I will "
                                          "cancel my subscription tomorrow.")


def test_options_threshold_extra_words_and_steps_up():
    t = ticket(comment(1, "I want a refund now. This is the worst."))
    assert evaluate(t) == []
    assert len(evaluate(t, threshold=3)) == 1
    [proposal] = evaluate(t, extra_words={"Refund  Now": 4}, steps_up=2)
    assert proposal.steps_up == 2
    assert proposal.evidence[0].summary.endswith("(score 7 \u2265 6): refund now, worst")
    assert decide(t, [proposal], LADDER).to_tier == "L3"
    # weight 0 switches a built-in term off
    assert evaluate(t, threshold=3, extra_words={"worst": 0}) == []


def test_registered_to_read_comments_only():
    host = PolicyHost(load_entry_points=False)
    assert host.specs()["sentiment"].needs == frozenset({"comments"})
    enabled = host.configure({"sentiment": {"enabled": True, "extra_words": {"Rip-off": 3}}})
    assert enabled.options["sentiment"].extra_words == {"rip-off": 3.0}


@pytest.mark.parametrize("options, field", [
    ({"threshold": 0}, "threshold"),
    ({"threshold": -2}, "threshold"),
    ({"recent": 0}, "recent"),
    ({"extra_words": {"  ": 2}}, "extra_words"),
    ({"extra_words": {"!!!": 2}}, "extra_words"),
    ({"extra_words": {"rip-off": -1}}, "extra_words"),
    ({"extra_words": {"rip-off": 11}}, "extra_words"),
    ({"extra_words": ["rip-off"]}, "extra_words"),
    ({"steps_up": 0}, "steps_up"),
])
def test_invalid_options_are_refused_naming_the_field(options, field):
    with pytest.raises(ValidationError) as caught:
        sentiment.Options(**options)
    assert [e["loc"][0] for e in caught.value.errors()] == [field]


@pytest.mark.parametrize("text", [
    "furious\u2014really. \u00abunacceptable\u00bb, \u2018worst\u2019 (pathetic)",
    "fed\u00a0up, cancel\u2003my\nsubscription; can\u2019t believe it; WTF?!",
    "na\u00efve ridiculous\u00e9 sue_you sue-you", "\u00c4rger und Frust", "",
])
def test_the_quick_word_test_never_hides_a_term(text):
    lex = sentiment.lexicon((("\u00e4rger", 3.0), ("frust", 2.0)))
    without_quick_test = sentiment.Lexicon(lex.weights, lex.pattern, None)
    assert sentiment.score(text, lex) == sentiment.score(text, without_quick_test)


def test_only_the_first_5000_characters_of_a_comment_are_read():
    log = "2026-11-20 09:00:01 export worker retrying batch 17 of 40\n" * 2000
    assert evaluate(ticket(comment(1, FURIOUS + "\n" + log))) != []
    assert evaluate(ticket(comment(1, log + FURIOUS))) == []
