"""specialized: the request needs a specialist team (billing, security...), not a higher tier."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from plugins import hookimpl
from plugins.options import PriorityName
from plugins.text import Matcher, as_text, customer_text, field_values, matcher, per_options


def _clean(values: list[str], what: str) -> list[str]:
    cleaned = [" ".join(v.lower().split()) for v in values]
    if "" in cleaned:
        raise ValueError(f"blank {what}")
    return list(dict.fromkeys(cleaned))


class Route(BaseModel):
    """What sends a ticket to one specialist team; any one matcher is enough to be considered."""

    model_config = ConfigDict(extra="forbid")

    keywords: list[str] = Field(
        default_factory=list, description="Words and phrases, matched case-insensitively as "
        "whole words (a plural 's' included) in the subject and the customer's public comments.")
    tags: list[str] = Field(default_factory=list, description="Ticket tags (case-insensitive).")
    forms: list[str] = Field(
        default_factory=list, description="Ticket forms (Zendesk form id, Jira issue type).")
    fields: dict[str, list[str]] = Field(
        default_factory=dict, description="Custom field id -> values (case-insensitive; a "
        "multi-select field matches on any of its values).")
    priority: PriorityName = Field(
        None, description="Also raise priority to this (low, normal, high, urgent).")
    suggestion: str = Field("", description="What the team should do first (handoff note).")

    @field_validator("forms", mode="before")
    @classmethod
    def _forms_as_text(cls, forms: object) -> object:
        return [as_text(f) for f in forms] if isinstance(forms, list) else forms

    @field_validator("fields", mode="before")
    @classmethod
    def _values_as_text(cls, fields: object) -> object:
        if not isinstance(fields, dict):
            return fields
        return {k: [as_text(v) for v in vs] if isinstance(vs, list) else vs
                for k, vs in fields.items()}

    @field_validator("keywords", "tags", "forms")
    @classmethod
    def _no_blanks(cls, values: list[str]) -> list[str]:
        return _clean(values, "entry")

    @field_validator("fields")
    @classmethod
    def _fields_with_values(cls, fields: dict[str, list[str]]) -> dict[str, list[str]]:
        cleaned = {}
        for field_id, values in fields.items():
            if not field_id.strip():
                raise ValueError("blank field id")
            if not values:
                raise ValueError(f"field {field_id.strip()}: give at least one value")
            cleaned[field_id.strip()] = _clean(values, f"value of field {field_id.strip()}")
        return cleaned

    @model_validator(mode="after")
    def _something_to_match(self) -> Route:
        if not (self.keywords or self.tags or self.forms or self.fields):
            raise ValueError("a route needs at least one of keywords, tags, forms or fields")
        return self


DEFAULT_ROUTES: dict[str, dict] = {
    # Billing problems that tier 1 cannot solve; a plain refund or a copy of an invoice it can
    # (refunds beyond tier 1's authority are the policy_exception policy's business).
    "billing": {
        "keywords": ["double charged", "charged twice", "billed twice", "overcharged",
                     "wrong invoice", "incorrect invoice", "invoice is wrong", "billing error",
                     "payment failed", "failed payment", "payment declined", "chargeback",
                     "vat"],
        "tags": ["billing"],
        "suggestion": "check the invoices and payment history before replying.",
    },
    "security": {
        "keywords": ["fraud", "fraudulent", "phishing", "account takeover", "hacked",
                     "account was compromised", "compromised account", "unauthorized access",
                     "unauthorised access", "data breach", "security breach", "suspicious login",
                     "stolen credentials", "stolen password", "vulnerability", "malware",
                     "ransomware"],
        "tags": ["security"],
        "priority": "high",
        "suggestion": "secure the account (sessions, credentials, 2FA) and review its access "
        "log before replying.",
    },
    "compliance": {
        "keywords": ["gdpr", "ccpa", "hipaa", "data deletion request", "delete my data",
                     "right to be forgotten", "right to erasure", "subject access request",
                     "data processing agreement", "dpa", "soc 2", "soc2", "iso 27001",
                     "data retention policy"],
        "tags": ["compliance", "gdpr"],
        "suggestion": "log the request and answer within its legal deadline.",
    },
    "integrations": {
        "keywords": ["integration", "webhook", "api key", "api", "oauth", "zapier",
                     "salesforce", "sync error"],
        "tags": ["integration", "api"],
        "suggestion": "check the integration's configuration and logs with the customer.",
    },
}


class Options(BaseModel):
    routes: dict[str, Route] = Field(
        default_factory=lambda: {n: Route(**r) for n, r in DEFAULT_ROUTES.items()},
        description="Route (specialist team) name -> {keywords, tags, forms, fields, priority, "
        "suggestion}. Setting it replaces the defaults (billing, security, compliance, "
        "integrations). On a tie the route listed first wins.",
    )
    min_matches: int = Field(
        1, ge=1, description="How many different keywords, tags, forms or field values must "
        "match before a route is proposed.")

    @field_validator("routes")
    @classmethod
    def _named_routes(cls, routes: dict[str, Route]) -> dict[str, Route]:
        if not routes:
            raise ValueError("give at least one route")
        cleaned = {}
        for name, route in routes.items():
            if not name.strip():
                raise ValueError("blank route name")
            cleaned[name.strip()] = route
        return cleaned


@hookimpl
def tierlift_register_policy(register):
    register(Options, needs={"comments"},
             summary="The request needs a specialist team (billing, security, compliance...)")


def _route_matcher(options: Options) -> Matcher:
    return matcher(tuple(k for r in options.routes.values() for k in r.keywords))


@hookimpl
def tierlift_evaluate(ticket, ctx):
    routes = ctx.options.routes
    text = customer_text(ticket)
    found = per_options(ctx.options, _route_matcher).first_matches(text)
    tags = {t.lower() for t in ticket.tags}
    form = str(ticket.form).strip().lower() if ticket.form is not None else None
    best = None
    for name, route in routes.items():
        keywords = [k for k in route.keywords if k in found] if found else []
        if len(keywords) > 1:
            keywords.sort(key=lambda k: found[k].start())
        labels = [*keywords, *(f"tag {t}" for t in route.tags if t in tags)]
        if form is not None and form in route.forms:
            labels.append(f"form {form}")
        for field_id, values in route.fields.items():
            labels += [f"field {field_id} = {v}"
                       for v in field_values(ticket.custom_fields.get(field_id)) if v in values]
        if len(labels) >= ctx.options.min_matches and (best is None or len(labels) > best[2]):
            best = (name, route, len(labels), labels, keywords)
    if best is None:
        return None
    name, route, count, labels, keywords = best
    first = found[keywords[0]] if keywords else None
    evidence = ctx.evidence(
        f"route:{name}",
        f"needs the {name} team ({count} match{'es' if count > 1 else ''}): {', '.join(labels)}",
        quote=text.quote(*first.span()) if first else None,
        # No ``at``: a sideways proposal counts from the current tier, so it never moves a tier.
    )
    return ctx.propose(
        evidence,
        steps_up=0,
        route=name,
        priority=route.priority,
        suggestion=f"Hand over to the {name} team"
        + (f": {route.suggestion}" if route.suggestion else "."),
    )




