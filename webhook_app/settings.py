"""Configuration: one TOML file, every key overridable from ``TIERLIFT_*`` environment variables."""

from __future__ import annotations

import json
import os
import tomllib
import types
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from urllib.parse import urlparse

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from connector.ticket import TierLadder
from plugins.calendars import BusinessCalendar, CalendarError, build_calendar
from plugins.decision import CLOSED_STATUSES, DecisionRules
from plugins.manager import ConfigError, NoOptions, PolicyHost
from plugins.repeat_issue import Options as RepeatIssueOptions
from webhook_app.database import url_problem
from webhook_app.escalation import RELATED_WINDOW
from webhook_app.notify import NotifySettings
from webhook_app.store import Retention

CONFIG_ENV = "TIERLIFT_CONFIG"
# Keys whose values never appear in an error message, even when they have the wrong type.
SECRET_KEYS = frozenset({"api_token", "oauth_token", "pat", "webhook_secret", "webhook_token",
                         "token", "database_url", "webhook_url", "password"})
# Top-level keys holding secrets: no value in them is quoted, whatever its key or shape (a
# section given as a string or a list may be a whole table of secrets written wrongly).
SECRET_SECTIONS = frozenset({"zendesk", "jira", "notify", "admin", "database_url"})
JIRA_PRIORITIES = {"low": "Low", "normal": "Medium", "high": "High", "urgent": "Highest"}
YEAR_MINUTES = 365 * 24 * 60  # the longest wait a guardrail may set


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _header_safe(section: str) -> AfterValidator:
    """A token or webhook secret (real ones are ASCII): a copied placeholder ("…") or a
    character outside Latin-1, which requests cannot put in a header, is refused in one line
    naming the key and its variable, never the value."""

    def check(secret: SecretStr, info: ValidationInfo) -> SecretStr:
        value = secret.get_secret_value()
        variable = f"TIERLIFT_{section}__{info.field_name}".upper()
        if value and not value.strip(".…"):
            raise ValueError(f"a placeholder, not the secret: give the real one, best as "
                             f"{variable} in the environment")
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            raise ValueError(f"holds a character an HTTP header cannot carry (not Latin-1; a "
                             f"copied placeholder?): give the real secret, best as {variable} "
                             "in the environment") from None
        return secret

    return AfterValidator(check)


ZendeskSecret = Annotated[SecretStr, _header_safe("zendesk")]
JiraSecret = Annotated[SecretStr, _header_safe("jira")]
AdminSecret = Annotated[SecretStr, _header_safe("admin")]


class ZendeskSettings(_Section):
    base_url: str | None = None
    subdomain: str | None = None
    email: str | None = None
    api_token: ZendeskSecret | None = None
    oauth_token: ZendeskSecret | None = None
    webhook_secret: ZendeskSecret
    tier_groups: dict[str, int] = Field(default_factory=dict)
    route_groups: dict[str, int] = Field(default_factory=dict, description="Specialist team "
                                         "(route) name -> id of the Zendesk group.")

    @model_validator(mode="after")
    def _complete(self) -> ZendeskSettings:
        if not self.base_url and not self.subdomain:
            raise ValueError("set base_url (https://acme.zendesk.com) or subdomain (acme)")
        if self.base_url and urlparse(self.base_url).scheme not in ("http", "https"):
            raise ValueError("base_url must start with https://")  # may hold user:password@
        if self.oauth_token is None and (self.email is None or self.api_token is None):
            raise ValueError("set oauth_token, or email together with api_token")
        if not self.webhook_secret.get_secret_value():
            raise ValueError("webhook_secret is empty: copy the webhook's signing secret")
        return self

    @property
    def url(self) -> str:
        return (self.base_url or f"https://{self.subdomain}.zendesk.com").rstrip("/")


class JiraSettings(_Section):
    base_url: str
    email: str | None = None
    api_token: JiraSecret | None = None
    pat: JiraSecret | None = None
    webhook_secret: JiraSecret | None = None
    webhook_token: JiraSecret | None = Field(None, description="Data Center, which may not sign "
                                            "deliveries: a shared token sent as the "
                                            "X-Tierlift-Token header or ?token= parameter.")
    tier_field: str
    tier_values: dict[str, str] = Field(default_factory=dict)
    transition: str | None = Field(None, description="Name of a workflow transition to run "
                                   "when escalating, e.g. \"Escalate\".")
    priorities: dict[str, str] = Field(default_factory=lambda: dict(JIRA_PRIORITIES),
                                       description="tierlift priority -> Jira priority name.")
    route_field: str | None = Field(None, description="Single-select field naming the "
                                    "specialist team, e.g. a \"Team\" field.")
    route_values: dict[str, str] = Field(default_factory=dict, description="Route name -> "
                                         "option of route_field.")
    organizations_field: str | None = Field(None, description="The Service Management "
                                            "Organizations field, e.g. customfield_10002; "
                                            "not set: found by its type.")
    freshness_minutes: float = Field(5, gt=0, le=1440, description="A delivery whose body "
                                     "timestamp is further than this from now is refused as a "
                                     "replay (a retry: 30 minutes more, Jira's retry lateness).")

    @model_validator(mode="after")
    def _complete(self) -> JiraSettings:
        if urlparse(self.base_url).scheme not in ("http", "https"):
            raise ValueError("base_url must start with https://")
        cloud = self.email is not None or self.api_token is not None
        if cloud and self.pat is not None:
            raise ValueError("set email + api_token (Cloud) or pat (Data Center), not both")
        if self.pat is None and (self.email is None or self.api_token is None):
            raise ValueError("set email together with api_token (Cloud), or pat (Data Center)")
        for name in ("webhook_secret", "webhook_token"):
            value = getattr(self, name)
            if value is not None and not value.get_secret_value():
                raise ValueError(f"{name} is empty")
        if self.webhook_secret is None and self.webhook_token is None:
            raise ValueError("set webhook_secret (the Jira webhook's secret) or, for Data "
                             "Center webhooks that cannot sign, webhook_token: tierlift does "
                             "not accept unauthenticated deliveries")
        unknown = set(self.priorities) - set(JIRA_PRIORITIES)
        if unknown:
            raise ValueError(f"priorities: unknown tierlift priority {sorted(unknown)}; "
                             f"use {list(JIRA_PRIORITIES)}")
        self.priorities = {**JIRA_PRIORITIES, **self.priorities}  # a partial table keeps the rest
        if self.route_values and not self.route_field:
            raise ValueError("route_values needs route_field, the field that holds the team")
        return self

    @property
    def cloud(self) -> bool:
        """Cloud (email + API token, REST v3, ADF) rather than Data Center (PAT, REST v2)."""
        return self.pat is None

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/")


class PublicReplySettings(_Section):
    enabled: bool = False
    template: str = ("Thank you for your patience. Your request has been passed to our {tier} "
                     "support team, who will follow up with you shortly.")


class EscalationSettings(_Section):
    """Guardrails and merge rules that apply to every policy."""

    min_age_minutes: float = Field(0, ge=0, le=YEAR_MINUTES, description="Minimum time in "
                                   "the current tier before a gated policy may move a ticket "
                                   "(0: none).")
    min_agent_replies: int = Field(0, ge=0, description="...or minimum agent replies in the "
                                   "current tier (either one suffices; 0: none).")
    gated: list[str] = Field(default_factory=lambda: ["complexity", "effort", "sentiment"],
                             description="Policies that wait for the minimum effort; the "
                             "others (vip, incident, policy_exception, customer_request…) "
                             "bypass it.")
    bypass: list[str] = Field(default_factory=list, description="Policies whose fresh proposal "
                              "lets the gated ones through at once (e.g. customer_request: the "
                              "customer asked, so the effort rule does not hold the rest).")
    effort_since: Literal["tier", "creation"] = Field(
        "tier", description="Count the minimum effort from when the ticket entered its current "
        "tier, or from its creation (a young ticket: created less than min_age_minutes ago with "
        "fewer than min_agent_replies public agent replies).")
    closed_statuses: dict[str, list[str]] = Field(
        default_factory=lambda: {p: sorted(s) for p, s in CLOSED_STATUSES.items()},
        description="Per platform, statuses of tickets that are never escalated (any case).")
    cooldown_minutes: float = Field(0, ge=0, le=YEAR_MINUTES, description="After tierlift "
                                    "escalated a ticket, hold further escalations for this "
                                    "long.")
    top_tier: str | None = Field(None, description="Nothing goes above this tier "
                                 "(default: the last tier).")
    route_over_tier: bool = Field(True, description="When a specialist route and a tier "
                                  "bump both apply, route.")
    public_reply: PublicReplySettings = Field(default_factory=PublicReplySettings)


class CalendarSettings(_Section):
    timezone: str = "UTC"
    hours: dict[str, str] = Field(default_factory=lambda: {"weekdays": "09:00-17:00"})
    holidays: list[date] = Field(default_factory=list)
    country: str | None = Field(None, description="Add this country's public holidays "
                                "(ISO code, e.g. \"DE\").")
    subdivision: str | None = Field(None, description="...and its region's (e.g. \"BY\").")

    def build(self, name: str) -> BusinessCalendar:
        return build_calendar(name, self.timezone, self.hours, self.holidays,
                              country=self.country, subdivision=self.subdivision)


class AdminSettings(_Section):
    token: AdminSecret | None = Field(None, description="Opens the /admin dashboard: sent as "
                                      "'Authorization: Bearer <token>', as ?token= from a "
                                      "browser, or as the basic-auth password. Required "
                                      "unless tierlift serve listens on loopback only.")

    @field_validator("token")
    @classmethod
    def _long_enough(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and len(token.get_secret_value()) < 16:
            raise ValueError("use at least 16 random characters, e.g. the output of "
                             "python3 -c 'import secrets; print(secrets.token_urlsafe())'")
        return token


class WorkerSettings(_Section):
    lease_seconds: float = Field(30.0, gt=0, le=3600, description="How long a claimed ticket "
                                 "stays claimed by a worker that stopped answering.")
    coalesce_seconds: float = Field(0.5, ge=0, le=300, description="Wait this long after a "
                                    "delivery so that a burst for one ticket is evaluated "
                                    "once.")
    poll_seconds: float = Field(1.0, gt=0, le=3600, description="How often an idle worker "
                                "looks for work written by another process.")
    max_retry_after_seconds: float = Field(900, gt=0, le=86400, description="The longest wait "
                                           "a helpdesk's Retry-After may impose before the next "
                                           "attempt (each wait counts as an attempt).")
    stall_seconds: float = Field(900, ge=0, le=86400, description="/readyz answers 503 when "
                                 "a due delivery or deadline has waited longer than this (the "
                                 "workers are dead or stuck); 0: never.")
    max_attempts: int = Field(10, ge=1, description="Transient failures before a delivery is "
                              "marked failed (it stays in the inbox for inspection).")
    sweep_minutes: float = Field(10, ge=0, le=1440, description="Every this often (and at "
                                 "start), look for tickets updated without a webhook reaching "
                                 "tierlift; 0: never.")
    sweep_lookback_hours: float = Field(24, gt=0, le=720, description="How far back the first "
                                        "sweep looks.")


RetentionDays = Annotated[int, Field(ge=0, le=3650)]


class Settings(BaseSettings):
    """The whole configuration. Keys and env names are part of the admin-facing contract."""

    model_config = SettingsConfigDict(
        env_prefix="TIERLIFT_", env_nested_delimiter="__", extra="forbid"
    )

    database_url: str = Field("sqlite:///tierlift.db", repr=False)  # may hold a password
    tiers: list[str] = Field(default_factory=lambda: ["L1", "L2", "L3"])
    default_tier: str = "L1"
    mode: Literal["live", "shadow"] = Field("live", description="shadow: decide, write the "
                                            "handoff note and audit exactly as live, but never "
                                            "write to the helpdesk.")
    zendesk: ZendeskSettings | None = None
    jira: JiraSettings | None = None
    policies: dict[str, dict[str, Any]] = Field(default_factory=dict)
    escalation: EscalationSettings = Field(default_factory=EscalationSettings)
    calendars: dict[str, CalendarSettings] = Field(default_factory=dict)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    admin: AdminSettings = Field(default_factory=AdminSettings)
    log_format: Literal["text", "json"] = Field("text", description="json: one JSON object per "
                                                "line, with platform, ticket and delivery.")
    notify: NotifySettings = Field(default_factory=NotifySettings)
    retention_days: RetentionDays = Field(90, description="Audit entries, deliveries' payloads, "
                                          "notifications and indexed ticket text older than "
                                          "this are deleted (see the README's Retention); 0: "
                                          "kept forever.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's values arrive as init kwargs (see load_settings); the environment wins,
        # key by key (pydantic-settings merges the sources' nested tables).
        return EnvironmentSource(settings_cls), init_settings

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, url: str) -> str:
        problem = url_problem(url)
        if problem:
            raise ValueError(problem)
        return url

    @property
    def platforms(self) -> list[str]:
        """The configured helpdesks."""
        return [name for name in ("zendesk", "jira") if getattr(self, name) is not None]

    @property
    def ladder(self) -> TierLadder:
        return TierLadder(tuple(self.tiers), self.default_tier)

    @property
    def rules(self) -> DecisionRules:
        e = self.escalation
        return DecisionRules(min_age_minutes=e.min_age_minutes,
                             min_agent_replies=e.min_agent_replies, gated=frozenset(e.gated),
                             bypass=frozenset(e.bypass), effort_since=e.effort_since,
                             closed_statuses={**CLOSED_STATUSES, **{
                                 p: frozenset(x.lower() for x in v)
                                 for p, v in e.closed_statuses.items()}},
                             cooldown_minutes=e.cooldown_minutes, top_tier=e.top_tier,
                             route_over_tier=e.route_over_tier)

    def business_calendars(self) -> dict[str, BusinessCalendar]:
        """``[calendars.*]`` built (validated by :func:`load_settings`)."""
        return {name: c.build(name) for name, c in self.calendars.items()}

    @property
    def retention(self) -> Retention:
        return Retention(self.retention_days, history_days(self.policies))


# -- the environment ------------------------------------------------------------------------

_TRUE, _FALSE = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no"})


class _Keys:
    """A table whose keys are identifiers: a variable names them in any case. Each has the type
    of its value; any other key is lower-cased and typed ``other`` (the validator names it)."""

    def __init__(self, types: Mapping[str, Any], other: Any = Any) -> None:
        self.types = dict(types)
        self.other = other
        self._names = {name.lower(): name for name in self.types}

    def child(self, segment: str) -> tuple[str, Any]:
        name = self._names.get(segment.lower(), segment.lower())
        return name, self.types.get(name, self.other)


class _PolicyTables:
    """``[policies.*]``: free-form in :class:`Settings`, validated later by the plugin host
    against each policy's options model, which is what types the variables here. Loaded only
    when a variable reaches inside a policy's table."""

    @cached_property
    def keys(self) -> _Keys:
        def table(options: type[BaseModel]) -> _Keys:
            return _Keys({"enabled": bool, **_fields(options)})

        specs = PolicyHost().specs()
        return _Keys({name: table(spec.options) for name, spec in specs.items()},
                     other=table(NoOptions))


def _fields(model: type[BaseModel]) -> dict[str, Any]:
    return {name: field.annotation for name, field in model.model_fields.items()}


def _members(shape: Any) -> list[Any]:
    """The alternatives of a type: ``Annotated`` metadata dropped, unions flattened, no None."""
    while get_origin(shape) is Annotated:
        shape = get_args(shape)[0]
    if get_origin(shape) in (Union, types.UnionType):
        return [m for arg in get_args(shape) for m in _members(arg)]
    return [] if shape is type(None) else [shape]


def _is_model(shape: Any) -> bool:
    return isinstance(shape, type) and issubclass(shape, BaseModel)


def _is_table(shape: Any) -> bool:
    return isinstance(shape, _Keys | _PolicyTables) or _is_model(shape) or \
        (get_origin(shape) or shape) in (dict, Mapping)


def _is_complex(shape: Any) -> bool:
    return _is_table(shape) or (get_origin(shape) or shape) in (list, tuple, set, frozenset)


def _is_names(shape: Any) -> bool:
    """A list (tuple, set) of plain strings: tiers, tags, policy names, ..."""
    if get_origin(shape) not in (list, tuple, set, frozenset):
        return False
    items = [m for arg in get_args(shape) if arg is not Ellipsis for m in _members(arg)]
    return bool(items) and all(m is str or (get_origin(m) is Literal and all(
        isinstance(a, str) for a in get_args(m))) for m in items)


def _child(shape: Any, segment: str) -> tuple[str, Any]:
    """The key that a segment of a variable's name stands for inside a value of type ``shape``,
    and the type of that key's value. Field and policy names match whatever their case; other
    keys (tier names, team names, ...) are data and are kept as written."""
    tables = [m for m in _members(shape) if _is_table(m)]
    if not tables:
        return segment, Any
    table = tables[0]
    if isinstance(table, _PolicyTables):
        table = table.keys
    if _is_model(table):
        table = _Keys(_fields(table))
    if isinstance(table, _Keys):
        return table.child(segment)
    args = get_args(table)
    return segment, args[1] if len(args) == 2 else Any


class _BadJSON(Exception):
    pass


def _decode(raw: str, shape: Any) -> Any:
    """A variable's text as a value of type ``shape``. Lists and tables are JSON, and a list of
    names may also be comma-separated text (``L1, L2``: it is JSON when it starts with ``[``);
    booleans are true/false, 1/0 or yes/no in any case; anything else stays text for the
    validator (which reads numbers, dates, ...). A value of unknown type is JSON when it reads
    as a JSON array or object. Raises :class:`_BadJSON` (whose text never quotes ``raw``) when
    JSON is required and ``raw`` is not JSON."""
    members = _members(shape)
    names = bool(members) and all(_is_names(m) for m in members)
    if names and not raw.lstrip().startswith("["):
        return [item.strip() for item in raw.split(",")] if raw.strip() else []
    if members and all(_is_complex(m) for m in members):
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            reason = "invalid \\ escape" if "escape" in exc.msg else exc.msg  # no echo
            example = '{"key": "value"}' if _is_table(members[0]) else \
                '["a", "b"], or as a, b' if names else '["a", "b"]'
            raise _BadJSON(f"not valid JSON ({reason} at line {exc.lineno} column {exc.colno}); "
                           f"write it as JSON, e.g. {example}") from None
    if any(m is Any or _is_complex(m) for m in members) and raw.lstrip()[:1] in ("[", "{"):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    if members and all(m is bool for m in members):
        word = raw.strip().lower()
        if word in _TRUE | _FALSE:
            return word in _TRUE
    return raw


def _merge(into: dict[str, Any], keys: list[str], value: Any) -> None:
    for key in keys[:-1]:
        if not isinstance(into.get(key), dict):
            into[key] = {}
        into = into[key]
    last = keys[-1]
    if isinstance(value, dict) and isinstance(into.get(last), dict):
        for key, item in value.items():
            _merge(into[last], [key], item)
    else:
        into[last] = value


class EnvironmentSource(PydanticBaseSettingsSource):
    """``TIERLIFT_*`` variables, ``__`` between levels: every key of the file can be set.

    Variable names are case-insensitive, but the keys they spell that are data rather than
    field names (tier names in ``TIERLIFT_ZENDESK__TIER_GROUPS__L2``, team names, ...) keep the
    case they are written in. Values are decoded by the type of their key, including a policy's
    options: lists and tables as JSON (a list of names also as ``a, b``), booleans as
    true/false/1/0/yes/no. A variable naming no top-level key (``TIERLIFT_CONFIG``, ...) is not
    configuration and is skipped. Malformed JSON raises :class:`ConfigError` naming the
    variable and the key, never quoting the value (it may be a secret)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads the whole environment at once

    def __call__(self) -> dict[str, Any]:
        prefix = self.config.get("env_prefix") or ""
        delimiter = self.config.get("env_nested_delimiter") or "__"
        top = _Keys({**_fields(self.settings_cls), "policies": _PolicyTables()})
        found = []
        for variable, raw in os.environ.items():
            if not variable.upper().startswith(prefix.upper()):
                continue
            segments = variable[len(prefix):].split(delimiter)
            if segments[0].lower() not in top._names:
                continue
            found.append((len(segments), variable, segments, raw))
        data: dict[str, Any] = {}
        problems = []
        for _, variable, segments, raw in sorted(found):  # a nested variable beats a table
            shape, keys = top, []
            for segment in segments:
                key, shape = _child(shape, segment)
                keys.append(key)
            try:
                _merge(data, keys, _decode(raw, shape))
            except _BadJSON as exc:
                problems.append(f"{'.'.join(keys)}: {variable} is {exc}")
        if problems:
            raise ConfigError(problems)
        return data


def load_settings(path: str | os.PathLike | None = None) -> Settings:
    """Read ``path`` (else ``$TIERLIFT_CONFIG``, else defaults) and the environment.

    Raises :class:`ConfigError` with one line per problem, each naming the key.
    """
    data = _read_toml(path or os.environ.get(CONFIG_ENV))
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_lines(exc)) from None
    problems = _cross_check(settings)
    if problems:
        raise ConfigError(problems)
    return settings


def raw_policies(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """The ``[policies.*]`` tables as the file and the environment give them, unvalidated: what
    ``tierlift check`` validates when the rest of the configuration is wrong, to report every
    problem at once. Raises :class:`ConfigError` as :func:`load_settings` does."""
    merged: dict[str, Any] = {}
    for data in (_read_toml(path or os.environ.get(CONFIG_ENV)), EnvironmentSource(Settings)()):
        if isinstance(data.get("policies"), dict):
            _merge(merged, ["policies"], data["policies"])
    return {name: table for name, table in merged.get("policies", {}).items()
            if isinstance(table, dict)}


def _read_toml(path: str | os.PathLike | None) -> dict[str, Any]:
    if not path:
        return {}
    file = Path(path)
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError([f"config file {file}: not found"]) from None
    except OSError as exc:
        raise ConfigError([f"config file {file}: cannot read it ({exc.strerror})"]) from None
    try:
        text = raw.decode("utf-8-sig")  # a byte order mark (Windows editors) is no problem
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError([f"config file {file}: not UTF-8 text (byte 0x{raw[exc.start]:02x} "
                           f"on line {line}, column {column}); save it as UTF-8"]) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"config file {file}: not valid TOML: {exc}"]) from None


def _lines(exc: ValidationError) -> list[str]:
    lines = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "config"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        elif error["type"] == "missing":
            message = "required"
        elif "input" in error and not isinstance(error["input"], dict | SecretStr) \
                and not _secret(error["loc"]):
            message += f" (got {error['input']!r})"
        lines.append(f"{key}: {message}")
    return lines


def _secret(loc: tuple) -> bool:
    """Whether the value at ``loc`` may hold a secret (so no message quotes it)."""
    keys = [str(part) for part in loc]
    return bool(SECRET_SECTIONS.intersection(keys[:1]) or SECRET_KEYS.intersection(keys))


def _cross_check(settings: Settings) -> list[str]:
    problems = []
    if not settings.tiers:
        problems.append("tiers: give at least one tier, lowest first")
    duplicates = sorted({t for t in settings.tiers if settings.tiers.count(t) > 1})
    if duplicates:
        problems.append(f"tiers: {', '.join(duplicates)} listed more than once")
    known = sorted({info.name for info in PolicyHost().policies()})
    for key in ("gated", "bypass"):
        unknown = [name for name in getattr(settings.escalation, key) if name not in known]
        if unknown:
            problems.append(f"escalation.{key}: no policy named {', '.join(unknown)} "
                            f"(known: {', '.join(known)})")
    if settings.default_tier not in settings.tiers:
        problems.append(f"default_tier: {settings.default_tier!r} is not one of tiers "
                        f"{settings.tiers}")
        return problems
    if settings.escalation.top_tier is not None and \
            settings.escalation.top_tier not in settings.tiers:
        problems.append(f"escalation.top_tier: {settings.escalation.top_tier!r} is not one of "
                        f"tiers {settings.tiers}")
    for name, calendar in settings.calendars.items():
        try:
            calendar.build(name)
        except CalendarError as exc:
            problems.append(f"calendars.{name}: {exc}")
    try:
        settings.escalation.public_reply.template.format(tier="L2", team="billing")
    except (KeyError, IndexError, ValueError) as exc:
        problems.append(f"escalation.public_reply.template: use only {{tier}} and {{team}} "
                        f"placeholders ({exc!r})")
    if settings.zendesk is None and settings.jira is None:
        problems.append("config: no helpdesk configured; add a [zendesk] or [jira] section")
    if settings.zendesk is not None:
        problems += _tier_map_problems(settings, "zendesk.tier_groups",
                                       settings.zendesk.tier_groups,
                                       "the id of the Zendesk group that works it")
    if settings.jira is not None:
        values = settings.jira.tier_values
        problems += _tier_map_problems(settings, "jira.tier_values", values,
                                       f"the option of {settings.jira.tier_field} that means it")
        repeated = sorted({v for v in values.values() if list(values.values()).count(v) > 1})
        if repeated:
            problems.append(f"jira.tier_values: {', '.join(repeated)} used for more than one "
                            "tier")
    return problems


def _tier_map_problems(settings: Settings, key: str, mapping: dict, what: str) -> list[str]:
    """Every mapped tier exists, and every tier from default_tier up is mapped."""
    problems = [f"{key}.{tier}: not one of tiers {settings.tiers}"
                for tier in mapping if tier not in settings.tiers]
    start = settings.tiers.index(settings.default_tier)
    problems += [f"{key}.{tier}: missing; every tier from default_tier up needs {what}"
                 for tier in settings.tiers[start:] if tier not in mapping]
    return problems


# -- commands that only read the store --------------------------------------------------------


@dataclass(frozen=True)
class StoreSettings:
    """What reading the store needs: where it is, and the tiers (for the report's order)."""

    database_url: str
    tiers: tuple[str, ...]


def load_store_settings(path: str | os.PathLike | None = None, *,
                        database_url: str | None = None) -> StoreSettings:
    """``database_url`` and ``tiers`` from ``path`` (else ``$TIERLIFT_CONFIG``), then
    ``TIERLIFT_DATABASE_URL`` / ``TIERLIFT_TIERS``, then ``database_url``. Every other key is
    ignored, not validated: ``tierlift report`` runs where no helpdesk secret is set."""
    data = _read_toml(path or os.environ.get(CONFIG_ENV))
    env = {name.upper(): value for name, value in os.environ.items()}
    url = database_url or env.get("TIERLIFT_DATABASE_URL") or data.get("database_url") or \
        Settings.model_fields["database_url"].default
    tiers: Any = data.get("tiers", Settings.model_fields["tiers"].default_factory())
    if "TIERLIFT_TIERS" in env:
        try:
            tiers = _decode(env["TIERLIFT_TIERS"], Settings.model_fields["tiers"].annotation)
        except _BadJSON as exc:
            raise ConfigError([f"tiers: TIERLIFT_TIERS is {exc}"]) from None
    if not isinstance(url, str):
        raise ConfigError(["database_url: give the store's URL as a string"])
    problem = url_problem(url)
    if problem:
        raise ConfigError([f"database_url: {problem}"])
    if not isinstance(tiers, list) or not all(isinstance(t, str) for t in tiers):
        raise ConfigError(["tiers: give a list of tier names, lowest first"])
    return StoreSettings(url, tuple(tiers))


def history_days(policies: Mapping[str, Any]) -> float:
    """How far back, in days, a policy may read the ticket index for a new ticket: the
    requester's tickets the handoff note lists (``RELATED_WINDOW``), or repeat_issue's ``days``
    when longer, enabled or not (enabling it later finds its history). ``policies`` is the
    ``[policies]`` table as written."""
    table = policies.get("repeat_issue")
    days = RepeatIssueOptions.model_fields["days"].default
    if isinstance(table, Mapping) and "days" in table:
        try:
            days = RepeatIssueOptions.model_validate({"days": table["days"]}).days
        except ValidationError as exc:
            raise ConfigError([f"policies.repeat_issue.days: {exc.errors()[0]['msg']} "
                               f"(got {table['days']!r})"]) from None
    return max(RELATED_WINDOW.days, days)


def load_retention(path: str | os.PathLike | None = None) -> Retention:
    """``retention_days`` and repeat_issue's ``days`` from ``path`` (else ``$TIERLIFT_CONFIG``),
    then ``TIERLIFT_RETENTION_DAYS`` / ``TIERLIFT_POLICIES__REPEAT_ISSUE__DAYS``; every other key
    is ignored, as for :func:`load_store_settings`."""
    data = _read_toml(path or os.environ.get(CONFIG_ENV))
    env = {name.upper(): value for name, value in os.environ.items()}
    days = env.get("TIERLIFT_RETENTION_DAYS", data.get("retention_days",
                                                       Settings.model_fields["retention_days"]
                                                       .default))
    policies = data.get("policies") if isinstance(data.get("policies"), dict) else {}
    repeat = dict(policies.get("repeat_issue") or {})
    if "TIERLIFT_POLICIES__REPEAT_ISSUE__DAYS" in env:
        repeat["days"] = env["TIERLIFT_POLICIES__REPEAT_ISSUE__DAYS"]
    try:
        days = TypeAdapter(RetentionDays).validate_python(days)
    except ValidationError as exc:
        raise ConfigError([f"retention_days: {exc.errors()[0]['msg']} (got {days!r})"]) from None
    return Retention(days, history_days({"repeat_issue": repeat}))
