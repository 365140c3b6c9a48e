"""The ``tierlift`` command line."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections import Counter
from dataclasses import asdict
from datetime import UTC, datetime

import click
from prometheus_client import start_http_server
from pydantic_core import to_jsonable_python
from sqlalchemy.exc import SQLAlchemyError

from plugins.manager import ConfigError, PolicyHost
from webhook_app.database import check_database, failure
from webhook_app.deliveries import Ignored, Malformed, parse_jira, parse_zendesk
from webhook_app.logs import configure_logging
from webhook_app.migrations import UnknownRevision
from webhook_app.online_check import FAIL, online_lines, secrets_of
from webhook_app.presets import HELPDESKS, PRESETS, render
from webhook_app.review import review, review_lines, story_lines, ticket_stories
from webhook_app.service import Service, enabled_policies
from webhook_app.settings import (
    Settings,
    load_retention,
    load_settings,
    load_store_settings,
    raw_policies,
)
from webhook_app.store import DAY, DEDUPE_SECONDS, Store

config_option = click.option(
    "--config", "config_path", type=click.Path(dir_okay=False), default=None,
    help="TOML config file (default: $TIERLIFT_CONFIG).",
)


def _settings(config_path: str | None) -> Settings:
    try:
        return load_settings(config_path)
    except ConfigError as exc:
        _config_failure(exc)


def _config_failure(exc: ConfigError):
    for problem in exc.problems:
        click.echo(f"config error: {problem}", err=True)
    sys.exit(2)


def _require_store(url: str) -> None:
    """Exit as :func:`_config_failure` does, with one line, when the store cannot be reached."""
    problem = check_database(url)
    if problem:
        _config_failure(ConfigError([f"database_url: {problem}"]))


def _store(url: str) -> Store:
    """The store at ``url`` (one line, exit 2, when it cannot be reached), closed when the
    command ends, however it ends."""
    _require_store(url)
    store = Store(url)
    click.get_current_context().call_on_close(store.close)
    return store


def _service(config_path: str | None, workers: int, log_level: str) -> Service:
    settings = _settings(config_path)
    configure_logging(log_level, settings.log_format)
    _require_store(settings.database_url)
    try:
        return Service.build(settings, workers=workers)
    except ConfigError as exc:
        _config_failure(exc)


class _Commands(click.Group):
    """A store failing after the start, or one a newer version migrated, is one line too
    (exit 2), never a traceback: in every command that opens the store."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (SQLAlchemyError, UnknownRevision) as exc:
            click.echo(f"store error: {failure(exc)}", err=True)
            sys.exit(2)


@click.group(cls=_Commands)
@click.version_option(package_name="tierlift", prog_name="tierlift")  # the installed metadata
def main() -> None:
    """tierlift: moves helpdesk tickets up a tier at the right moment, and says why."""


@main.command()
@config_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int,
              help="Worker threads in this process.")
@click.option("--log-level", default="info", show_default=True)
def serve(config_path, host, port, workers, log_level) -> None:
    """Receiver and workers in one process."""
    service = _service(config_path, workers, log_level)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # unwinds serve(), which shuts down
    try:
        service.serve(host, port)
    except ConfigError as exc:  # /admin would be open to the network
        _config_failure(exc)


@main.command()
@config_option
@click.option("--workers", default=1, show_default=True, type=int)
@click.option("--log-level", default="info", show_default=True)
@click.option("--metrics-port", type=int, default=None,
              help="Serve this process's Prometheus metrics at /metrics on this port.")
@click.option("--metrics-host", default="127.0.0.1", show_default=True)
def worker(config_path, workers, log_level, metrics_port, metrics_host) -> None:
    """Workers only, for receivers and workers on separate machines (shared database)."""
    service = _service(config_path, workers, log_level)
    if metrics_port is not None:
        start_http_server(metrics_port, addr=metrics_host,
                          registry=service.escalator.metrics.registry)
    stopped = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopped.set())
    service.start_workers()
    stopped.wait()
    service.shutdown()


@main.command()
@config_option
@click.option("--online", is_flag=True, help="Then ask each helpdesk, read-only, whether the "
              "bot's login, role, groups, fields, options and priorities will work.")
@click.option("--issue", "issue", default=None, metavar="KEY",
              help="With --online: a sample Jira issue, for its edit screen and transitions.")
def check(config_path, online, issue) -> None:
    """Validate the configuration and the enabled policies' options, try the store; start
    nothing. --online: one line per helpdesk check, ok / FAIL / not checked; exit 1 on a
    FAIL."""
    if issue is not None and not online:
        raise click.UsageError("--issue goes with --online")
    problems: list[str] = []
    settings = policies = None
    try:
        settings = load_settings(config_path)
    except ConfigError as exc:
        problems += exc.problems
    try:  # the policies' options too when the rest is wrong: every problem in one run
        policies = enabled_policies(settings) if settings else \
            PolicyHost().configure(raw_policies(config_path))
    except ConfigError as exc:
        problems += [problem for problem in exc.problems if problem not in problems]
    if settings and not problems:
        problem = check_database(settings.database_url)
        problems += [f"database_url: {problem}"] if problem else []
    for warning in policies.warnings if policies else ():
        click.echo(f"config warning: {warning}", err=True)
    if problems:
        _config_failure(ConfigError(problems))
    platforms = [name for name in ("zendesk", "jira") if getattr(settings, name) is not None]
    click.echo(f"config OK: tiers {' < '.join(settings.tiers)} (default {settings.default_tier}); "
               f"helpdesks: {', '.join(platforms)}; "
               f"policies enabled: {', '.join(policies.names) or 'none'}")
    if not online:
        return
    failed = False
    secrets = secrets_of(settings)
    for line in online_lines(settings, issue=issue):
        text = str(line)
        for secret in secrets:
            text = text.replace(secret, "***")
        click.echo(text)
        failed = failed or line.status == FAIL
    if failed:
        sys.exit(1)


@main.command()
@click.option("--preset", type=click.Choice(PRESETS), default="standard", show_default=True,
              help="The configuration to start from.")
@click.option("--helpdesk", "helpdesks", type=click.Choice([*HELPDESKS, "both"]), default="both",
              show_default=True, help="Which helpdesk's connection tables to include.")
def init(preset, helpdesks) -> None:
    """Print a commented configuration to start from: tierlift init > tierlift.toml."""
    click.echo(render(preset, HELPDESKS if helpdesks == "both" else (helpdesks,)), nl=False)


@main.command()
@config_option
def plugins(config_path) -> None:
    """List every known policy: source, enabled or not, options with defaults."""
    host = PolicyHost()
    enabled: set[str] = set()
    if config_path or _has_env_config():
        try:
            enabled = set(enabled_policies(_settings(config_path), host).names)
        except ConfigError as exc:
            _config_failure(exc)
    for info in host.policies():
        state = "enabled" if info.name in enabled else "disabled"
        if info.error:
            click.echo(f"{info.name}  [{info.source}]  BROKEN: {info.error}")
            continue
        click.echo(f"{info.name}  [{info.source}]  {state}")
        if info.spec.summary:
            click.echo(f"    {info.spec.summary}")
        for option, spec in info.spec.options.model_fields.items():
            default = to_jsonable_python(spec.get_default(call_default_factory=True))
            click.echo(f"    {option} = {default!r}" +
                       (f"  # {spec.description}" if spec.description else ""))


def _has_env_config() -> bool:
    return "TIERLIFT_CONFIG" in os.environ


@main.command()
@config_option
@click.option("--database-url", default=None, metavar="URL",
              help="The store (default: database_url of the config file, or "
                   "$TIERLIFT_DATABASE_URL); nothing else of the configuration is needed.")
@click.option("--ticket", "ticket_ref", default=None, metavar="REF",
              help="One ticket's story: every delivery and evaluation, each policy's proposal "
                   "(held ones with the reason), the decision and the helpdesk's answer.")
@click.option("--platform", type=click.Choice(["zendesk", "jira"]), default=None,
              help="With --ticket: only this helpdesk's ticket of that name.")
@click.option("--days", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Only the last DAYS days (default: everything in the store).")
@click.option("--override-days", type=click.FloatRange(min=0, min_open=True), default=7.0,
              show_default=True, help="An agent moving a ticket back down, or out of the team, "
                                      "within this many days of tierlift's move overrides it.")
@click.option("--limit", default=20, show_default=True, help="Latest evaluations to list.")
@click.option("--json", "as_json", is_flag=True, help="The same numbers as JSON.")
def report(config_path, database_url, ticket_ref, platform, days, override_days, limit,
           as_json) -> None:
    """What tierlift did, read from its store alone (no helpdesk secret needed).

    Escalations per tier, policy, channel and organization; the tier mix against the
    playbooks' 80 / 15-20 / 5 % guide; overrides per policy (moves agents took back); write
    failures; deadline lateness; the latest evaluations. /admin shows the same numbers.
    """
    try:
        where = load_store_settings(config_path, database_url=database_url)
    except ConfigError as exc:
        _config_failure(exc)
    store = _store(where.database_url)
    if not store.holds_tierlift():
        click.echo("no tierlift store there (no audit table): give the database_url that "
                   "tierlift serve uses (--database-url, $TIERLIFT_DATABASE_URL or the config "
                   "file)", err=True)
        sys.exit(2)
    store.create_schema()  # a store of an earlier version gains its later columns
    if ticket_ref is not None:
        stories = ticket_stories(store, ticket_ref, platform)
        if not stories:
            click.echo(f"nothing on ticket {ticket_ref} in the store", err=True)
            sys.exit(1)
        if as_json:
            click.echo(json.dumps([asdict(s) for s in stories], indent=2))
            return
        click.echo("\n\n".join("\n".join(story_lines(story)) for story in stories))
        return
    now = store.clock()
    result = review(store, where.tiers, since=None if days is None else now - days * 86400,
                    override_days=override_days, now=now)
    if as_json:
        click.echo(json.dumps(asdict(result), indent=2))
        return
    for line in review_lines(result):
        click.echo(line)
    for entry in store.audit_log(limit=limit, since=result.since) if limit > 0 else ():
        click.echo(describe_audit(entry))


def describe_audit(entry: dict) -> str:
    """One line per audit entry: when, which ticket, what happened, and which policies."""
    when = datetime.fromtimestamp(entry["at"], UTC).strftime("%Y-%m-%d %H:%M:%S")
    line = f"{when}  {entry['platform']} #{entry['ticket_ref']}  {entry['outcome']}"
    if entry["to_tier"]:
        line += f" {entry['from_tier']} -> {entry['to_tier']}"
    if entry["priority"]:
        line += f" priority {entry['priority']}"
    rounds = entry["detail"].get("rounds") or []
    confirmed = entry["detail"].get("confirmed_on_reread")
    fired = confirmed["policies"] if confirmed else \
        sorted({p["policy"] for r in rounds for p in r["proposals"] if p["state"] == "fired"})
    if fired and entry["outcome"] == "escalated":
        line += f"  by {', '.join(fired)}"
    if confirmed:
        line += "  (written earlier, its answer lost: confirmed on re-read)"
    if "error" in entry["detail"]:
        line += f"  ({entry['detail']['error']})"
    return line


@main.command()
@config_option
@click.option("--database-url", default=None, metavar="URL",
              help="The store (default: database_url of the config file, or "
                   "$TIERLIFT_DATABASE_URL).")
@click.option("--dry-run", is_flag=True, help="Count what would go; change nothing.")
def prune(config_path, database_url, dry_run) -> None:
    """Delete what retention_days no longer keeps (the workers do it every hour).

    Needs only the store's URL and retention_days (and repeat_issue's days, which the ticket
    index outlives); prints the rows per table.
    """
    try:
        where = load_store_settings(config_path, database_url=database_url)
        retention = load_retention(config_path)
    except ConfigError as exc:
        _config_failure(exc)
    if not retention.days:
        click.echo("retention_days = 0: everything is kept")
        return
    store = _store(where.database_url)
    if not store.holds_tierlift():
        click.echo("no tierlift store there (no audit table): give the database_url that "
                   "tierlift serve uses (--database-url, $TIERLIFT_DATABASE_URL or the config "
                   "file)", err=True)
        sys.exit(2)
    if not dry_run:
        store.create_schema()  # the indexes the pruning reads by
    counts = store.prune(retention, dry_run=dry_run)
    click.echo(f"kept: text {retention.days:g} days, ticket index "
               f"{max(retention.days, retention.history_days):g} days, dedupe keys "
               f"{max(retention.days, DEDUPE_SECONDS / DAY):g} days" +
               (" (dry run: nothing changed)" if dry_run else ""))
    for table, count in counts.items():
        verb = "emptied" if table == "inbox.payload" else "deleted"
        click.echo(f"{table}: {count} {'would be ' if dry_run else ''}{verb}")


@main.command()
@config_option
@click.option("--database-url", default=None, metavar="URL",
              help="The store (default: database_url of the config file, or "
                   "$TIERLIFT_DATABASE_URL); nothing else of the configuration is needed.")
def migrate(config_path, database_url) -> None:
    """Upgrade the store's schema to this version's, ahead of a start (serve and worker do it
    when they start too); prints the revision before and after. Back the store up first."""
    try:
        where = load_store_settings(config_path, database_url=database_url)
    except ConfigError as exc:
        _config_failure(exc)
    store = _store(where.database_url)
    done = store.create_schema()
    before = done.before or ("none (tables of a tierlift before migrations)" if done.legacy
                             else "none (empty database)")
    click.echo(f"schema revision before: {before}")
    click.echo(f"schema revision after: {done.after} (head)" +
               ("; nothing to do" if done.before == done.after else ""))


@main.command()
@config_option
@click.argument("file", type=click.File("r"))
def replay(config_path, file) -> None:
    """Feed recorded webhook deliveries (JSON lines: platform, headers, body) into the inbox.

    For deliveries the receiver never got (an outage, a webhook pointed elsewhere): each line
    is parsed and deduplicated exactly like a live delivery, so replaying twice changes nothing.
    Signatures are not checked: whoever can run this can write the store anyway.
    """
    settings = _settings(config_path)
    store = _store(settings.database_url)
    store.create_schema()
    parsers = {"zendesk": parse_zendesk, "jira": parse_jira}
    counts = Counter()
    for number, line in enumerate(file, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            parse = parsers[record["platform"]]
            body = record["body"]
            raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            delivery = parse(record.get("headers") or {}, raw)
        except (ValueError, KeyError, TypeError, Malformed) as exc:
            click.echo(f"line {number}: not replayed: {exc}", err=True)
            counts["refused"] += 1
            continue
        except Ignored:
            counts["ignored"] += 1
            continue
        counts["stored" if store.receive(delivery) else "duplicate"] += 1
    click.echo("replayed: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    sys.exit(1 if counts["refused"] else 0)


@main.command()
@config_option
@click.option("--since", default="30d", show_default=True,
              help="How far back: 30d, 12h, 2w, or a date such as 2026-11-01.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), default=None,
              help="Also write the report as one self-contained HTML page.")
@click.option("--cache", "cache_path", type=click.Path(dir_okay=False), default=None,
              help="What was pulled, reused by the next run (it holds ticket contents; "
              "default: tierlift-backtest.cache.jsonl here).")
@click.option("--samples", default=5, show_default=True, help="Handoff notes to show.")
@click.option("--concurrency", default=4, show_default=True,
              help="Tickets read at once (the rate budget still paces them).")
def backtest(config_path, since, html_path, cache_path, samples, concurrency) -> None:
    """Replay the helpdesk's recent tickets through this configuration, reading only."""
    from connector.errors import HelpdeskError
    from webhook_app.backtest import DEFAULT_CACHE, parse_since
    from webhook_app.backtest import backtest as run_backtest
    from webhook_app.backtest_report import Summary, render_html, render_text

    now = datetime.now(UTC)
    try:
        parse_since(since, now)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    settings = _settings(config_path)
    cache_path = cache_path or DEFAULT_CACHE
    try:
        result = run_backtest(settings, since=since, cache_path=cache_path,
                              concurrency=concurrency, now=now, progress=sys.stderr)
    except ConfigError as exc:
        _config_failure(exc)
    except HelpdeskError as exc:
        click.echo(f"backtest stopped: {exc} (what was read is kept in {cache_path}; run "
                   "again to go on)", err=True)
        sys.exit(1)
    summary = Summary.of(result, samples=samples)
    click.echo(render_text(summary), nl=False)
    if html_path:
        with open(html_path, "w", encoding="utf-8") as page:
            page.write(render_html(summary))
        click.echo(f"report written to {html_path}", err=True)


@main.command()
@click.option("--no-wait", is_flag=True,
              help="Exit after the tour instead of keeping the dashboard open (scripts, tests).")
@click.option("--port", default=0, show_default=True, type=int,
              help="tierlift's port on 127.0.0.1 (0: a free one).")
def demo(no_wait, port) -> None:
    """The tour: emulated Zendesk and Jira on loopback, the standard preset, a stream of
    realistic tickets, what each policy did, a backtest, and the dashboard until Ctrl-C."""
    from webhook_app.demo import run_demo

    sys.exit(run_demo(wait=not no_wait, port=port))
