"""channel: the ticket came in on a channel that needs a faster answer (public social posts)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from plugins import hookimpl
from plugins.options import OptionalName, PriorityName

# Zendesk via.source.rel of a social ticket: these are private conversations; anything else
# ("mention", "post", none at all) is a post everyone can read.
PRIVATE_DETAILS = frozenset({"direct_message", "message"})
PUBLIC_DETAILS = frozenset({"mention", "post"})


class ChannelRule(BaseModel):
    """What a ticket from one channel gets."""

    model_config = ConfigDict(extra="forbid")

    priority: PriorityName = Field(None, description="Raise priority to this (low, normal, high, "
                                 "urgent).")
    tier: OptionalName = Field(None, description="Move the ticket to this tier (absolute).")
    public_only: bool = Field(False, description="Only public posts (not direct messages).")

    @model_validator(mode="after")
    def _does_something(self) -> ChannelRule:
        if self.priority is None and self.tier is None:
            raise ValueError("give a priority and/or a tier for this channel")
        return self


def _default_channels() -> dict[str, ChannelRule]:
    return {name: ChannelRule(priority="high", public_only=True)
            for name in ("twitter", "facebook")}


class Options(BaseModel):
    channels: dict[str, ChannelRule] = Field(
        default_factory=_default_channels,
        description="Per channel (the helpdesk's channel name: twitter, facebook, chat, email, "
        "web, api…): {priority, tier (absolute, optional), public_only}. Social posts are public "
        "unless they are a direct message.",
    )

    @field_validator("channels")
    @classmethod
    def _named_channels(cls, channels: dict[str, ChannelRule]) -> dict[str, ChannelRule]:
        cleaned = {name.strip().lower(): rule for name, rule in channels.items()}
        if "" in cleaned:
            raise ValueError("blank channel name")
        if not cleaned:
            raise ValueError("give at least one channel")
        return cleaned


@hookimpl
def tierlift_register_policy(register):
    register(Options, needs=set(),
             summary="Priority (and optionally a tier) by the channel a ticket came in on")


@hookimpl
def tierlift_evaluate(ticket, ctx):
    channels = ctx.options.channels
    for name, configured in channels.items():
        if configured.tier is not None and configured.tier not in ctx.tiers.names:
            raise ValueError(f"channel: option channels.{name}.tier {configured.tier!r} is not "
                             f"one of your tiers ({', '.join(ctx.tiers.names)})")
    if not ticket.channel:
        return None
    channel = ticket.channel.lower()
    rule = channels.get(channel)
    if rule is None:
        return None
    detail = ticket.channel_detail.lower() if ticket.channel_detail else None
    private = detail in PRIVATE_DETAILS
    if rule.public_only and private:
        return None
    public = not private and (rule.public_only or detail in PUBLIC_DETAILS)
    shown = f" ({detail})" if detail else ""
    if public:
        summary = f"public {channel} post{shown}: visible to everyone"
    elif private:
        summary = f"private {channel} message{shown}"
    else:
        summary = f"came in via {channel}{shown}"
    return ctx.propose(
        ctx.evidence(f"channel:{channel}", summary, at=ticket.created_at),
        tier=rule.tier,
        steps_up=0,
        priority=rule.priority,
        suggestion="Public post: answer publicly soon, then move the conversation to a private "
        "channel." if public else None,
    )
