"""complexity: the ticket needs deep product expertise (a weighted score of technical signals)."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from plugins import hookimpl
from plugins.options import OptionalName
from plugins.text import (
    as_text,
    customer_text,
    field_values,
    matcher,
)

EVIDENCE_KEY = "score"  # one per ticket: complexity escalates a ticket at most once

# Strong signals weigh 3-4, medium ones 2; with the threshold 5 one strong signal alone does not
# fire, two do (or one strong and one medium, or three medium).
DEFAULT_KEYWORDS: dict[str, float] = {
    "data loss": 4,
    "data corruption": 4,
    "sso": 3,
    "saml": 3,
    "scim": 3,
    "ldap": 3,
    "oauth": 3,
    "encryption": 3,
    "migration": 3,
    "500 error": 3,
    "internal server error": 3,
    "api": 2,
    "webhook": 2,
    "integration": 2,
    "database": 2,
    "stack trace": 2,
    "timeout": 2,
}



def _weights(weights: dict[str, float], what: str) -> dict[str, float]:
    cleaned: dict[str, float] = {}
    for name, weight in weights.items():
        key = " ".join(name.lower().split())
        if not key:
            raise ValueError(f"blank {what}")
        if key in cleaned:
            raise ValueError(f"{what} {key!r} is listed twice")
        if weight <= 0:
            raise ValueError(f"the weight of {what} {key!r} must be positive, got {weight:g}")
        cleaned[key] = weight
    return cleaned


class Options(BaseModel):
    keywords: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_KEYWORDS),
        description="Words and phrases -> weight, matched case-insensitively as whole words "
        "(a plural 's' included) in the subject and the customer's public comments; each "
        "counts once per ticket.",
    )
    tags: dict[str, float] = Field(
        default_factory=dict, description="Ticket tags -> weight (case-insensitive).")
    forms: dict[str, float] = Field(
        default_factory=dict, description="Ticket form (Zendesk form id, Jira issue type) -> "
        "weight (case-insensitive).")
    fields: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="Custom field id -> {value: weight}; a multi-select "
        "field scores each of its values (case-insensitive).")
    threshold: float = Field(
        5, gt=0, validate_default=True, description="Escalate once the score (sum of the "
        "weights of the signals present) reaches this.")
    steps_up: int = Field(
        1, ge=1, description="How many tiers above the tier the ticket had when the score "
        "reached the threshold.")
    tier: OptionalName = Field(
        None, description="Propose this tier of your ladder instead (absolute); empty: use "
        "steps_up.")

    @field_validator("keywords", "tags", "forms")
    @classmethod
    def _clean_weights(cls, weights: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        return _weights(weights, {"keywords": "keyword", "tags": "tag", "forms": "form"}[
            info.field_name])

    @field_validator("fields", mode="before")
    @classmethod
    def _values_as_text(cls, fields: object) -> object:
        if not isinstance(fields, dict):
            return fields
        return {k: {as_text(v): w for v, w in vs.items()} if isinstance(vs, dict) else vs
                for k, vs in fields.items()}

    @field_validator("fields")
    @classmethod
    def _clean_fields(cls, fields: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        cleaned = {}
        for field_id, values in fields.items():
            if not field_id.strip():
                raise ValueError("blank field id")
            if not values:
                raise ValueError(f"field {field_id.strip()}: give at least one value")
            cleaned[field_id.strip()] = _weights(values, f"value of field {field_id.strip()}")
        return cleaned

    @field_validator("threshold")
    @classmethod
    def _reachable(cls, threshold: float, info: ValidationInfo) -> float:
        signals = ("keywords", "tags", "forms", "fields")
        if not all(name in info.data for name in signals):
            return threshold  # an invalid signal option is reported on its own
        weights = [*info.data["keywords"].values(), *info.data["tags"].values(),
                   *info.data["forms"].values(),
                   *(w for values in info.data["fields"].values() for w in values.values())]
        if round(sum(weights), 6) < threshold:
            raise ValueError(f"all weights together add up to {sum(weights):g}, less than the "
                             f"threshold {threshold:g}: the policy could never fire")
        return threshold



@hookimpl
def tierlift_register_policy(register):
    register(Options, needs={"comments"},
             summary="Technical signals add up: the ticket needs deep product expertise")


class _Signal(NamedTuple):
    label: str
    weight: float
    at: datetime
    span: tuple[int, int] | None = None  # where a keyword first appears in the ticket's text


@hookimpl
def tierlift_evaluate(ticket, ctx):
    options = ctx.options
    if options.tier is not None and options.tier not in ctx.tiers.names:
        raise ValueError(f"{ctx.policy}: option tier = {options.tier!r} is not one of your "
                         f"tiers ({', '.join(ctx.tiers.names)})")
    comments = ticket.customer_comments
    text = customer_text(ticket)
    signals = []
    for term, match in matcher(tuple(options.keywords)).first_matches(text).items():
        source = text.source(match.start())  # 0: the subject, from the ticket's creation
        at = comments[source - 1].created_at if source else ticket.created_at
        signals.append(_Signal(term, options.keywords[term], at, match.span()))
    signals += _ticket_signals(ticket, options)
    score = round(sum(s.weight for s in signals), 6)
    if score < options.threshold:
        return None
    ranked = sorted(signals, key=lambda s: -s.weight)
    listed = ", ".join(f"{s.label} ({s.weight:g})" for s in ranked)
    quoted = next((s for s in ranked if s.span is not None), None)
    evidence = ctx.evidence(
        EVIDENCE_KEY,
        f"complexity score {score:g} ≥ {options.threshold:g}: {listed}",
        quote=text.quote(*quoted.span) if quoted else None,
        at=_reached_at(signals, options.threshold),
    )
    top = ", ".join(s.label for s in ranked[:3])
    return ctx.propose(
        evidence,
        tier=options.tier,
        steps_up=options.steps_up,
        suggestion=f"Needs deep product knowledge ({top}): reproduce with the customer's "
        "setup, take ownership, and involve engineering early if it looks like a defect.",
    )


def _ticket_signals(ticket, options: Options) -> list[_Signal]:
    """Tags, form and field values: the ticket carries them now; they count from its creation."""
    at = ticket.created_at
    signals = []
    if options.tags:
        tags = {t.lower() for t in ticket.tags}
        signals += [_Signal(f"tag {tag}", w, at) for tag, w in options.tags.items() if tag in tags]
    if options.forms and ticket.form is not None:
        form = str(ticket.form).strip().lower()
        if form in options.forms:
            signals.append(_Signal(f"form {form}", options.forms[form], at))
    for field_id, weights in options.fields.items():
        for value in field_values(ticket.custom_fields.get(field_id)):
            if value in weights:
                signals.append(_Signal(f"field {field_id} = {value}", weights[value], at))
    return signals




def _reached_at(signals: list[_Signal], threshold: float) -> datetime:
    """When the score first reached the threshold: signals in the order they appeared."""
    score = 0.0
    for signal in sorted(signals, key=lambda s: s.at):
        score = round(score + signal.weight, 6)
        if score >= threshold:
            return signal.at
    raise AssertionError("the score never reached the threshold")


