"""vip: the requester's organization is a key account (tag, field value, or listed id/name)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from plugins import hookimpl
from plugins.options import OptionalName, PriorityName

DEFAULT_ORG_TAGS = ["vip", "enterprise", "key_account"]
EVIDENCE_KEY = "key_account"  # one per ticket: a key account is routed once, never bounced back


def _as_text(value: object) -> object:
    """TOML ids are often written as numbers (``requesters = [12345]`` means "12345"), and a
    checkbox field's value as a boolean (``true`` means "true")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, int | float) else value


class Options(BaseModel):
    organizations: list[str] = Field(
        default_factory=list,
        description="Key-account organizations by id or name (names match case-insensitively).",
    )
    requesters: list[str] = Field(
        default_factory=list,
        description="Key-account requesters by user id, whatever their organization.",
    )
    org_fields: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Organization field values that make a key account: {field key: [values]}, "
        "matched case-insensitively (a multi-select field matches on any of its values).",
    )
    org_tags: list[str] = Field(
        default_factory=lambda: list(DEFAULT_ORG_TAGS),
        validate_default=True,
        description="Organization tags that make a key account (case-insensitive).",
    )
    priority: PriorityName = Field(
        "high", description="Raise priority to this (low, normal, high, urgent); empty: leave "
        "priority alone.")
    tier: OptionalName = Field(
        None, description="Also move the ticket to this tier of your ladder (absolute); empty: "
        "no tier move.")
    route: str | None = Field(
        "vip", validate_default=True,
        description="The dedicated team (route) that takes key accounts from the first message; "
        "empty: no routing.")

    @field_validator("organizations", "requesters", mode="before")
    @classmethod
    def _ids_as_text(cls, values: object) -> object:
        return [_as_text(v) for v in values] if isinstance(values, list) else values

    @field_validator("organizations", "requesters")
    @classmethod
    def _no_blank_ids(cls, values: list[str]) -> list[str]:
        cleaned = [v.strip() for v in values]
        if "" in cleaned:
            raise ValueError("blank entry")
        return cleaned

    @field_validator("org_fields", mode="before")
    @classmethod
    def _field_values_as_text(cls, fields: object) -> object:
        if not isinstance(fields, dict):
            return fields
        return {k: [_as_text(v) for v in vs] if isinstance(vs, list) else vs
                for k, vs in fields.items()}

    @field_validator("org_fields")
    @classmethod
    def _fields_with_values(cls, fields: dict[str, list[str]]) -> dict[str, list[str]]:
        cleaned = {}
        for key, values in fields.items():
            if not key.strip():
                raise ValueError("blank field key")
            values = [str(v).strip() for v in values if str(v).strip()]
            if not values:
                raise ValueError(f"field {key!r}: give at least one value")
            cleaned[key.strip()] = values
        return cleaned

    @field_validator("org_tags")
    @classmethod
    def _tags(cls, tags: list[str], info: ValidationInfo) -> list[str]:
        cleaned = [t.strip().lower() for t in tags]
        if "" in cleaned:
            raise ValueError("blank tag")
        if any(" " in t for t in cleaned):
            raise ValueError("tags cannot contain spaces")
        others = ("organizations", "requesters", "org_fields")
        # A field that failed validation is missing from info.data: that error is enough.
        if not cleaned and all(k in info.data for k in others) \
                and not any(info.data[k] for k in others):
            raise ValueError("no key-account rule left: org_tags is empty and no organizations, "
                             "requesters or org_fields are given")
        return cleaned

    @field_validator("route")
    @classmethod
    def _route(cls, value: str | None, info: ValidationInfo) -> str | None:
        value = (value.strip() or None) if value else None
        if value is None and "priority" in info.data and "tier" in info.data \
                and info.data["priority"] is None and info.data["tier"] is None:
            raise ValueError("route is empty and neither priority nor tier is set: a key "
                             "account would get nothing")
        return value


@hookimpl
def tierlift_register_policy(register):
    register(Options, needs={"organization"},
             summary="Key accounts go to the dedicated team from the first message")


@lru_cache(maxsize=64)
def _lookup(organizations: tuple[str, ...], requesters: tuple[str, ...],
            org_fields: tuple[tuple[str, tuple[str, ...]], ...]):
    """Sets for the listed ids and names, and the field values, normalised once per options."""
    return (
        frozenset(organizations),
        frozenset(o.casefold() for o in organizations),
        frozenset(requesters),
        tuple((k, frozenset(v.casefold() for v in vs)) for k, vs in org_fields),
    )


def _field_texts(value: object) -> list[str]:
    """An organization field value as texts: a multi-select is each of its options."""
    if value is None:
        return []
    if isinstance(value, list | tuple | set | frozenset):
        return [t for v in value for t in _field_texts(v)]
    if isinstance(value, bool):
        return ["true" if value else "false"]
    return [str(value)]


def _matched_rule(ticket, options) -> str | None:
    """Which rule makes this ticket a key account, as a phrase for the note, or None."""
    org = ticket.organization
    org_id = org.id if org is not None else ticket.organization_id
    shown = (org.name or org.id) if org is not None else org_id
    ids, names, requesters, fields = _lookup(
        tuple(options.organizations), tuple(options.requesters),
        tuple((k, tuple(v)) for k, v in options.org_fields.items()))
    if org_id is not None and (org_id in ids or (org is not None and org.name
                                                 and org.name.casefold() in names)):
        return f"organization {shown} is on the key-account list"
    if ticket.requester_id is not None and ticket.requester_id in requesters:
        return f"requester {ticket.requester_id} is on the key-account list"
    if org is None:
        return None
    if options.org_tags and org.tags:
        tags = {t.lower() for t in org.tags}
        for tag in options.org_tags:
            if tag in tags:
                return f"organization {shown} is tagged {tag}"
    for key, wanted in fields:
        for text in _field_texts(org.fields.get(key)):
            if text.strip().casefold() in wanted:
                return f"organization {shown} has {key} = {text}"
    return None


@hookimpl
def tierlift_evaluate(ticket, ctx):
    options = ctx.options
    if options.tier is not None and options.tier not in ctx.tiers.names:
        raise ValueError(f"vip: option tier {options.tier!r} is not one of your tiers "
                         f"({', '.join(ctx.tiers.names)})")
    rule = _matched_rule(ticket, options)
    if rule is None:
        return None
    team = f"the {options.route} team" if options.route else "the next tier"
    return ctx.propose(
        ctx.evidence(EVIDENCE_KEY, rule, at=ticket.created_at),
        tier=options.tier,
        steps_up=0,
        priority=options.priority,
        route=options.route,
        suggestion=f"Key account: {team} owns this from the first reply; check the account's "
        "contract and SLA before answering.",
    )
