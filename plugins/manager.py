"""The plugin host: registers built-in and installed policies, validates options, runs them."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import entry_points
from typing import Any

import pluggy
from pydantic import BaseModel, ValidationError

from connector.ticket import Ticket, TierLadder
from plugins import hookspecs
from plugins.calendars import BusinessCalendar
from plugins.history import NoHistory, TicketHistory
from plugins.proposal import KNOWN_NEEDS, NEEDS, PolicyContext, PolicySpec, Proposal

log = logging.getLogger(__name__)

PROJECT = "tierlift"
MODES = ("live", "shadow")  # a policy acts, or is only audited as if it did (see README)
DEFAULT_PLUGINS = ("customer_request", "complexity", "effort", "specialized", "policy_exception",
                   "repeat_issue", "vip", "channel", "sentiment", "incident", "sla")


class NoOptions(BaseModel):
    """Options model of a policy that registers none."""


@dataclass(frozen=True)
class PolicyInfo:
    """A known policy, as ``tierlift plugins`` lists it."""

    name: str
    source: str  # "built-in" or "<distribution> <version>"
    spec: PolicySpec | None
    error: str | None = None  # why it could not be loaded


@dataclass(frozen=True)
class PolicyFailure:
    policy: str
    error: str


@dataclass
class Evaluation:
    proposals: list[Proposal] = field(default_factory=list)
    failures: list[PolicyFailure] = field(default_factory=list)
    wakes: list[datetime] = field(default_factory=list)

    @property
    def wake_at(self) -> datetime | None:
        """The earliest moment a policy asked to look at the ticket again."""
        return min(self.wakes, default=None)


class ConfigError(Exception):
    """A configuration problem: one readable line per problem, each naming the key."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class PolicyHost:
    """Owns the ``PluginManager``. Policies are plugins; a policy's name is its plugin name."""

    def __init__(self, *, load_entry_points: bool = True) -> None:
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self._sources: dict[str, str] = {}
        self._broken: dict[str, PolicyInfo] = {}
        for name in DEFAULT_PLUGINS:
            self.register(importlib.import_module(f"plugins.{name}"), name, "built-in")
        if load_entry_points:
            self._load_entry_points()

    def register(self, plugin: object, name: str, source: str = "test") -> None:
        self.pm.register(plugin, name=name)
        self._sources[name] = source

    def _load_entry_points(self) -> None:
        # Loaded by hand rather than with load_setuptools_entrypoints(), which silently skips a
        # name already taken: an admin must hear about a collision.
        for ep in entry_points(group=PROJECT):
            dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist else "unknown distribution"
            if self.pm.has_plugin(ep.name):
                self._broken[f"{ep.name} ({dist})"] = PolicyInfo(
                    ep.name, dist, None,
                    error=f"not loaded: the name is already taken by {self._sources[ep.name]}",
                )
                continue
            try:
                plugin = ep.load()
            except Exception as exc:  # a broken third-party install must not stop the service
                self._broken[ep.name] = PolicyInfo(ep.name, dist, None, error=_describe(exc))
                continue
            self.register(plugin, ep.name, dist)

    def specs(self) -> dict[str, PolicySpec]:
        """Every registered policy's spec, by name (plugins implementing ``tierlift_evaluate``)."""
        specs = {
            impl.plugin_name: PolicySpec(options=NoOptions, summary=_doc(impl.plugin))
            for impl in self.pm.hook.tierlift_evaluate.get_hookimpls()
        }
        for impl in self.pm.hook.tierlift_register_policy.get_hookimpls():
            name = impl.plugin_name

            def register(options, needs=NEEDS, summary="", extra_needs=None, _name=name):
                unknown = set(needs) - KNOWN_NEEDS
                if unknown:
                    raise ValueError(f"policy {_name}: unknown needs {sorted(unknown)}; "
                                     f"known: {sorted(KNOWN_NEEDS)}")
                specs[_name] = PolicySpec(options=options, needs=frozenset(needs),
                                          summary=summary or _doc(self.pm.get_plugin(_name)),
                                          extra_needs=extra_needs)

            impl.function(register=register)
        return specs

    def policies(self) -> list[PolicyInfo]:
        infos = [PolicyInfo(name, self._sources.get(name, "?"), spec)
                 for name, spec in self.specs().items()]
        return sorted([*infos, *self._broken.values()], key=lambda p: p.name)

    def configure(self, config: Mapping[str, Mapping[str, Any]]) -> EnabledPolicies:
        """Validate ``[policies.*]`` tables; raises :class:`ConfigError` naming each bad key."""
        specs = self.specs()
        problems: list[str] = []
        enabled: dict[str, BaseModel] = {}
        shadow: set[str] = set()
        warnings: list[str] = []
        for name, table in config.items():
            key = f"policies.{name}"
            if name not in specs:
                broken = [p for p in self._broken.values() if p.name == name]
                reason = broken[0].error if broken else "no such policy"
                problems.append(f"{key}: {reason} (known: {', '.join(sorted(specs))})")
                continue
            table = dict(table)
            on = table.pop("enabled", False)
            if not isinstance(on, bool):
                problems.append(f"{key}.enabled: expected true or false, got {on!r}")
                continue
            mode = table.pop("mode", "live")
            if mode not in MODES:
                problems.append(f"{key}.mode: expected live or shadow, got {mode!r}")
                continue
            model = specs[name].options
            problems += _renamed(key, table, getattr(model, "renamed_options", {}), warnings)
            unknown = sorted(set(table) - set(model.model_fields))
            for option in unknown:
                known = ", ".join(model.model_fields) or "none"
                problems.append(f"{key}.{option}: unknown option (options: {known})")
            try:
                options = model.model_validate(table)
            except ValidationError as exc:
                problems += [f"{'.'.join((key, *map(str, e['loc'])))}: "
                             f"{e['msg'].removeprefix('Value error, ')}"
                             for e in exc.errors()]
                continue
            if on and not unknown:
                enabled[name] = options
                if mode == "shadow":
                    shadow.add(name)
        if problems:
            raise ConfigError(problems)
        return EnabledPolicies(self, enabled, {n: specs[n] for n in enabled},
                               shadow=frozenset(shadow), warnings=tuple(warnings))


class EnabledPolicies:
    """The policies an admin enabled, with their options, ready to evaluate tickets."""

    def __init__(self, host: PolicyHost, options: dict[str, BaseModel],
                 specs: dict[str, PolicySpec], *, shadow: frozenset[str] = frozenset(),
                 warnings: tuple[str, ...] = ()) -> None:
        self.options = options
        self.specs = specs
        self.warnings = warnings  # deprecated option names, with their successors
        self.shadow = shadow  # run in shadow mode: proposals audited, never mixed into a write
        # Resolved once: evaluate() runs for every ticket, the plugin set does not change.
        self._calls = [(impl.plugin_name, impl.function, impl.argnames, options[impl.plugin_name])
                       for impl in host.pm.hook.tierlift_evaluate.get_hookimpls()
                       if impl.plugin_name in options]

    @property
    def names(self) -> list[str]:
        return sorted(self.options)

    @property
    def needs(self) -> frozenset[str]:
        """What the enabled policies read, given their options."""
        return frozenset().union(*(
            s.needs | (frozenset(s.extra_needs(self.options[name])) if s.extra_needs else set())
            for name, s in self.specs.items()))

    def evaluate(self, ticket: Ticket, *, now: datetime, tiers: TierLadder,
                 history: TicketHistory | None = None,
                 calendars: Mapping[str, BusinessCalendar] | None = None) -> Evaluation:
        """Call each enabled policy in isolation: one that raises is recorded, the rest run."""
        result = Evaluation()
        history = history or NoHistory()
        calendars = calendars or {}
        for name, function, argnames, options in self._calls:
            ctx = PolicyContext(name, options, now, tiers, history, calendars, result.wakes)
            try:
                returned = function(ticket, ctx) if argnames == _BOTH else \
                    function(*[ticket if a == "ticket" else ctx for a in argnames])
                if returned is not None:
                    result.proposals += _proposals(name, returned)
            except Exception as exc:
                log.exception("policy %s failed on %s ticket %s", name, ticket.platform,
                              ticket.ref)
                result.failures.append(PolicyFailure(name, _describe(exc)))
        return result


_BOTH = ("ticket", "ctx")  # what most policies take, in the hook's order


def _renamed(key: str, table: dict[str, Any], renamed: Mapping[str, str],
             warnings: list[str]) -> list[str]:
    """Move options given under an old name (a model's ``renamed_options``: old name to new)
    to their new name, adding a deprecation warning; an option given under both is a problem."""
    problems = []
    for old, new in renamed.items():
        if old not in table:
            continue
        value = table.pop(old)
        if new in table:
            problems.append(f"{key}.{old}: renamed to {new}, which is also given; remove {old}")
        else:
            warning = f"{key}.{old} is deprecated: it is now called {new}"
            log.warning("%s", warning)
            warnings.append(warning)
            table[new] = value
    return problems


def _proposals(policy: str, returned: object) -> list[Proposal]:
    if returned is None:
        return []
    items = [returned] if isinstance(returned, Proposal) else list(returned)
    for item in items:
        if not isinstance(item, Proposal):
            raise TypeError(f"returned {type(item).__name__}, expected ctx.propose(...) results")
        if item.policy != policy:
            raise ValueError(f"returned a proposal of policy {item.policy!r}")
    return items


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _doc(plugin: object) -> str:
    return ((getattr(plugin, "__doc__", None) or "").strip().splitlines() or [""])[0]
