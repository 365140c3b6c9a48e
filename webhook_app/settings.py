"""Configuration: one TOML file, every key overridable from ``TIERLIFT_*`` environment variables."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from connector.ticket import TierLadder
from plugins.manager import ConfigError

CONFIG_ENV = "TIERLIFT_CONFIG"
# Keys whose values never appear in an error message, even when they have the wrong type.
SECRET_KEYS = frozenset({"api_token", "oauth_token", "webhook_secret", "database_url"})


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ZendeskSettings(_Section):
    base_url: str | None = None
    subdomain: str | None = None
    email: str | None = None
    api_token: SecretStr | None = None
    oauth_token: SecretStr | None = None
    webhook_secret: SecretStr
    tier_groups: dict[str, int] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _complete(self) -> ZendeskSettings:
        if not self.base_url and not self.subdomain:
            raise ValueError("set base_url (https://acme.zendesk.com) or subdomain (acme)")
        if self.base_url and urlparse(self.base_url).scheme not in ("http", "https"):
            raise ValueError(f"base_url must start with https:// (got {self.base_url!r})")
        if self.oauth_token is None and (self.email is None or self.api_token is None):
            raise ValueError("set oauth_token, or email together with api_token")
        if not self.webhook_secret.get_secret_value():
            raise ValueError("webhook_secret is empty: copy the webhook's signing secret")
        return self

    @property
    def url(self) -> str:
        return (self.base_url or f"https://{self.subdomain}.zendesk.com").rstrip("/")


class WorkerSettings(_Section):
    lease_seconds: float = Field(30.0, gt=0, description="How long a claimed ticket stays "
                                 "claimed by a worker that stopped answering.")
    coalesce_seconds: float = Field(0.5, ge=0, description="Wait this long after a delivery so "
                                    "that a burst for one ticket is evaluated once.")
    poll_seconds: float = Field(1.0, gt=0, description="How often an idle worker looks for work "
                                "written by another process.")
    max_attempts: int = Field(10, ge=1, description="Transient failures before a delivery is "
                              "marked failed (it stays in the inbox for inspection).")


class Settings(BaseSettings):
    """The whole configuration. Keys and env names are part of the admin-facing contract."""

    model_config = SettingsConfigDict(
        env_prefix="TIERLIFT_", env_nested_delimiter="__", extra="forbid"
    )

    database_url: str = Field("sqlite:///tierlift.db", repr=False)  # may hold a password
    tiers: list[str] = Field(default_factory=lambda: ["L1", "L2", "L3"])
    default_tier: str = "L1"
    zendesk: ZendeskSettings | None = None
    policies: dict[str, dict[str, Any]] = Field(default_factory=dict)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's values arrive as init kwargs (see load_settings); the environment wins.
        return env_settings, init_settings

    @property
    def ladder(self) -> TierLadder:
        return TierLadder(tuple(self.tiers), self.default_tier)


def load_settings(path: str | os.PathLike | None = None) -> Settings:
    """Read ``path`` (else ``$TIERLIFT_CONFIG``, else defaults) and the environment.

    Raises :class:`ConfigError` with one line per problem, each naming the key.
    """
    path = path or os.environ.get(CONFIG_ENV)
    data: dict[str, Any] = {}
    if path:
        file = Path(path)
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError([f"config file {file}: not found"]) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"config file {file}: not valid TOML: {exc}"]) from None
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_lines(exc)) from None
    problems = _cross_check(settings)
    if problems:
        raise ConfigError(problems)
    return settings


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
                and not SECRET_KEYS.intersection(map(str, error["loc"])):
            message += f" (got {error['input']!r})"
        lines.append(f"{key}: {message}")
    return lines


def _cross_check(settings: Settings) -> list[str]:
    problems = []
    if not settings.tiers:
        problems.append("tiers: give at least one tier, lowest first")
    duplicates = sorted({t for t in settings.tiers if settings.tiers.count(t) > 1})
    if duplicates:
        problems.append(f"tiers: {', '.join(duplicates)} listed more than once")
    if settings.default_tier not in settings.tiers:
        problems.append(f"default_tier: {settings.default_tier!r} is not one of tiers "
                        f"{settings.tiers}")
        return problems
    if settings.zendesk is None:
        problems.append("zendesk: no helpdesk configured; add a [zendesk] section")
        return problems
    groups = settings.zendesk.tier_groups
    for tier in groups:
        if tier not in settings.tiers:
            problems.append(f"zendesk.tier_groups.{tier}: not one of tiers {settings.tiers}")
    start = settings.tiers.index(settings.default_tier)
    for tier in settings.tiers[start:]:
        if tier not in groups:
            problems.append(f"zendesk.tier_groups.{tier}: missing; every tier from "
                            f"default_tier up needs the id of the Zendesk group that works it")
    return problems
