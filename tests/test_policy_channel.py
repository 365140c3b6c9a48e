"""The channel policy: what a ticket from each channel gets, public social posts first."""

from __future__ import annotations

from dataclasses import replace

import pytest
from builders import LADDER, T0, comment, ticket
from pydantic import ValidationError

from connector.ticket import Priority, TierLadder
from plugins import channel
from plugins.decision import decide
from plugins.manager import PolicyHost
from plugins.proposal import PolicyContext

MATRIX = {
    "twitter": {"priority": "high", "public_only": True},
    "facebook": {"priority": "normal", "tier": "L2"},
    "chat": {"priority": "urgent"},
    "api": {"tier": "L3"},
}


def arrived(via: str | None, detail: str | None = None, **kwargs):
    t = ticket(comment(1, "@acme your checkout is down again", minutes=1), tags=(), **kwargs)
    return replace(t, channel=via, channel_detail=detail)


def evaluate(t, tiers=LADDER, **options):
    ctx = PolicyContext(policy="channel", options=channel.Options(**options), now=T0,
                        tiers=tiers)
    return channel.tierlift_evaluate(ticket=t, ctx=ctx)


def test_a_public_twitter_mention_raises_priority_without_moving_the_ticket():
    proposal = evaluate(arrived("twitter", "mention"))
    assert proposal.policy == "channel"
    assert proposal.priority is Priority.HIGH
    assert proposal.steps_up == 0 and proposal.tier is None and proposal.route is None
    assert proposal.add_tags == ()
    [evidence] = proposal.evidence
    assert evidence.key == "channel:twitter"
    assert evidence.summary == "public twitter post (mention): visible to everyone"
    assert evidence.at == T0 and evidence.quote is None
    assert proposal.suggestion == ("Public post: answer publicly soon, then move the "
                                   "conversation to a private channel.")
    decision = decide(arrived("twitter", "mention"), [proposal], LADDER)
    assert decision.to_tier is None and decision.priority is Priority.HIGH
    assert decision.evidence_to_record() == [("channel", "channel:twitter", "escalated")]


@pytest.mark.parametrize("via, detail, summary", [
    ("twitter", "mention", "public twitter post (mention): visible to everyone"),
    ("Twitter", "MENTION", "public twitter post (mention): visible to everyone"),
    ("facebook", "post", "public facebook post (post): visible to everyone"),
    ("facebook", None, "public facebook post: visible to everyone"),
    ("twitter", "retweet", "public twitter post (retweet): visible to everyone"),
])
def test_social_posts_that_everyone_can_read_fire_by_default(via, detail, summary):
    [evidence] = evaluate(arrived(via, detail)).evidence
    assert evidence.summary == summary


@pytest.mark.parametrize("via, detail", [
    ("twitter", "direct_message"),
    ("facebook", "message"),
    ("Facebook", "Message"),
    ("email", None),
    ("web", None),
    ("chat", None),
    (None, None),
    ("twitterx", "mention"),
])
def test_private_messages_and_other_channels_do_not_fire_by_default(via, detail):
    assert evaluate(arrived(via, detail)) is None


@pytest.mark.parametrize("via, detail, expected, summary", [
    ("twitter", "direct_message", None, None),
    ("facebook", "message", ("L2", Priority.NORMAL),
     "private facebook message (message)"),
    ("facebook", "post", ("L2", Priority.NORMAL),
     "public facebook post (post): visible to everyone"),
    ("chat", None, (None, Priority.URGENT), "came in via chat"),
    ("api", "integration", ("L3", None), "came in via api (integration)"),
    ("email", None, None, None),
])
def test_an_admin_matrix(via, detail, expected, summary):
    proposal = evaluate(arrived(via, detail), channels=MATRIX)
    if expected is None:
        assert proposal is None
        return
    assert (proposal.tier, proposal.priority) == expected and proposal.steps_up == 0
    assert proposal.evidence[0].summary == summary
    assert proposal.evidence[0].key == f"channel:{via}"


def test_an_absolute_tier_moves_the_ticket_on_a_five_tier_ladder():
    ladder = TierLadder(("L0", "L1", "L2", "L3", "L4"), "L1")
    t = arrived("chat")
    proposal = evaluate(t, ladder, channels={"chat": {"tier": "L4", "priority": "high"}})
    decision = decide(t, [proposal], ladder)
    assert decision.to_tier == "L4" and decision.priority is Priority.HIGH


def test_a_configured_tier_not_on_the_ladder_is_an_error_even_for_other_channels():
    channels = {"twitter": {"priority": "high"}, "chat": {"tier": "L4"}}
    with pytest.raises(ValueError, match=r"channel: option channels\.chat\.tier 'L4' is not one "
                                         r"of your tiers \(L1, L2, L3\)"):
        evaluate(arrived("email"), channels=channels)


def test_priority_already_high_is_satisfied_and_recorded():
    t = arrived("twitter", "mention", priority=Priority.URGENT)
    decision = decide(t, [evaluate(t)], LADDER)
    assert not decision.writes
    assert decision.evidence_to_record() == [("channel", "channel:twitter", "satisfied")]


def test_an_agent_lowering_priority_again_is_not_undone():
    # Escalated on the channel before; tier 2 judged the post harmless and set priority low.
    t = arrived("twitter", "mention", priority=Priority.LOW)
    t = replace(t, comments=(*t.comments, comment(2, "thanks, fixed now", minutes=60)))
    decision = decide(t, [evaluate(t)], LADDER, used={("channel", "channel:twitter")})
    assert not decision.writes and len(decision.stale) == 1


def test_registered_to_read_nothing_beyond_the_ticket():
    host = PolicyHost(load_entry_points=False)
    assert host.specs()["channel"].needs == frozenset()
    enabled = host.configure({"channel": {"enabled": True, "channels": {"Chat": {
        "priority": "Urgent"}}}})
    assert enabled.options["channel"].channels == {"chat": channel.ChannelRule(priority="urgent")}


def test_default_matrix():
    assert channel.Options().channels == {
        "twitter": channel.ChannelRule(priority="high", public_only=True),
        "facebook": channel.ChannelRule(priority="high", public_only=True),
    }


@pytest.mark.parametrize("channels", [
    {},
    {" ": {"priority": "high"}},
    {"twitter": {}},
    {"twitter": {"priority": "", "tier": ""}},
    {"twitter": {"priority": "asap"}},
    {"twitter": {"prio": "high"}},
    {"twitter": {"priority": "high", "public_only": "sometimes"}},
    {"twitter": "high"},
    ["twitter"],
])
def test_invalid_options_are_refused_naming_the_field(channels):
    with pytest.raises(ValidationError) as caught:
        channel.Options(channels=channels)
    assert {e["loc"][0] for e in caught.value.errors()} == {"channels"}
