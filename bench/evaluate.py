"""Evaluation speed: the standard preset's policies and the decision, on labelled tickets, one core.

Builds the labelled tickets of bench/decisions in the loopback Zendesk and Jira emulators and
reads them back through the connectors as the worker does (``backtest.pull``; untimed). Then
times what the worker runs per ticket once it has read it, with no I/O: ``EnabledPolicies
.evaluate`` (every policy ``tierlift init --preset standard`` enables, with its options) and
``decide`` (the preset's rules), at the scene's moment, with the tickets' history in memory.
Three corpora, each printed with its measured fire rate (decisions that write):

- routine: the tickets labelled "no change" (the support lead leaves them where they are);
- busy: the tickets labelled to escalate (tier, team or priority);
- plain: the routine tickets, each with an everyday question that holds none of the policies'
  words (opening hours, a profile picture; five languages) as its subject and only message:
  what an evaluation costs when there is little to find, the policies' fixed cost.

The reference, timed in the same rounds on the same tickets, is the same host and ``decide``
with one policy that proposes nothing: the fixed cost of an evaluation on this machine now, so
the ratio is what the policies cost on top of it. Rounds alternate the four; the best round of
each is kept (as timeit does), the figure a quiet core gives.

    .venv/bin/python bench/evaluate.py [--rounds 7] [--seconds 0.5]
                                       [--profile busy|routine|plain] [--per-policy]
                                       [--passes N] [--tickets-file FILE]
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import glob
import logging
import os
import pickle
import pstats
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from decisions import LABELS, build_scene, connection_env, helpdesks, load_tickets

from connector.ticket import Ticket
from plugins import hookimpl
from plugins.decision import decide
from plugins.history import MemoryHistory
from plugins.manager import EnabledPolicies, PolicyHost
from plugins.similarity import forget
from webhook_app.backtest import TicketCache, _indexed, pull
from webhook_app.presets import render
from webhook_app.service import build_connectors, enabled_policies
from webhook_app.settings import load_settings

# Everyday questions (subject, first message) that hold none of the policies' words.
PLAIN = (
    ("Opening hours over the holidays", "Hi, what are your opening hours between Christmas "
     "and New Year? Thanks, Anna"),
    ("Profile picture", "Hello, how do I change the profile picture on my account? Regards, Tom"),
    ("Add a colleague", "Hi there, we have a new colleague starting on Monday. How do I add "
     "her to our team? Best, Priya"),
    ("Sprache der Oberfläche", "Hallo, wie stelle ich die Sprache der Oberfläche auf Deutsch "
     "um? Viele Grüße, Jonas"),
    ("Neue Adresse", "Guten Tag, unsere Firma ist umgezogen. Wo trage ich die neue Adresse "
     "ein? Danke, Petra"),
    ("Guide d'utilisation", "Bonjour, où puis-je trouver le guide d'utilisation en français ? "
     "Merci, Claire"),
    ("Changer le logo", "Bonjour, comment remplacer le logo affiché en haut de la page ? "
     "Cordialement, Luc"),
    ("Horario de atención", "Hola, ¿cuál es su horario de atención los sábados? Gracias, Lucía"),
    ("Cambiar el idioma", "Buenas, ¿cómo cambio el idioma de los avisos al español? Saludos, "
     "Diego"),
    ("Foto do perfil", "Olá, como altero a foto do meu perfil? Obrigada, Beatriz"),
)


def plain(tickets: list[Ticket]) -> list[Ticket]:
    """Each ticket with one of :data:`PLAIN` as its subject and only customer comment."""
    out = []
    for n, ticket in enumerate(tickets):
        subject, body = PLAIN[n % len(PLAIN)]
        first = ticket.customer_comments[0]
        out.append(replace(ticket, subject=subject, comments=(replace(first, body=body),)))
    return out


def timed_policies(enabled: EnabledPolicies) -> tuple[EnabledPolicies, dict[str, int]]:
    """A copy of ``enabled`` whose policies add the nanoseconds of each of their calls, inside
    the evaluation, to a tally by policy."""
    spent = dict.fromkeys(enabled.names, 0)

    def timed(name: str, function: Callable) -> Callable:
        def call(*args):
            started = time.perf_counter_ns()
            try:
                return function(*args)
            finally:
                spent[name] += time.perf_counter_ns() - started
        return call

    timing = copy.copy(enabled)
    timing._calls = [(name, timed(name, function), *rest)
                     for name, function, *rest in enabled._calls]
    return timing, spent


class Nothing:
    """The reference policy: proposes nothing."""

    @staticmethod
    @hookimpl
    def tierlift_evaluate(ticket, ctx):
        return None


def labelled_tickets() -> tuple[list[tuple[Ticket, bool]], object, object]:
    """Every labelled ticket as the connectors read it, with whether its label escalates; the
    preset's settings and the scene's moment."""
    labels = load_tickets(sorted(glob.glob(str(LABELS))))
    zendesk, jira = helpdesks()
    servers = [zendesk.serve(), jira.serve()]
    workdir = Path(tempfile.mkdtemp(prefix="tierlift-evaluate-"))
    config = workdir / "tierlift.toml"
    config.write_text(render("standard"), encoding="utf-8")
    try:
        scene = build_scene(labels, zendesk, jira)
        os.environ.update(connection_env(scene, f"sqlite:///{workdir / 'unused.db'}",
                                         servers[0].url, servers[1].url))
        settings = load_settings(config)
        needs = enabled_policies(settings).needs
        pulled = pull(build_connectors(settings), scene.now - timedelta(days=3650), needs,
                      TicketCache(None)).tickets
    finally:
        for emulator, server in zip((zendesk, jira), servers, strict=True):
            emulator.close()
            server.stop()
    by_ref = {(t.platform, t.ref): t for t in pulled}
    escalates = {(t.platform, scene.refs[t.name]): bool(t.expect.criteria)
                 for t in labels.tickets}
    return [(by_ref[key], hot) for key, hot in escalates.items() if key in by_ref], settings, \
        scene.now


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=0.5, help="per corpus per round")
    parser.add_argument("--profile", choices=("busy", "routine", "plain"),
                        help="print the top cumulative costs of that corpus instead")
    parser.add_argument("--per-policy", action="store_true",
                        help="print the microseconds each policy takes per evaluation of each "
                        "corpus instead (best of --rounds passes)")
    parser.add_argument("--passes", type=int,
                        help="untimed: evaluate every labelled ticket this many times (each "
                        "pass with the word caches emptied) and exit, for an instruction "
                        "counter (see docs/performance.md)")
    parser.add_argument("--tickets-file", type=Path,
                        help="the labelled tickets as read back, kept in this file (pickle; "
                        "written by this script when missing) instead of built each time")
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    if args.tickets_file and args.tickets_file.exists():
        tickets, settings, now = pickle.loads(args.tickets_file.read_bytes())
    else:
        tickets, settings, now = labelled_tickets()
        if args.tickets_file:
            args.tickets_file.write_bytes(pickle.dumps((tickets, settings, now)))
    routine = [t for t, hot in tickets if not hot]
    busy = [t for t, hot in tickets if hot]
    everyday = plain(routine)
    history = MemoryHistory(_indexed(t) for t, _ in tickets)
    history.until = now
    everyone = [t for t, _ in tickets]
    # what the worker evaluated before each corpus came in (the reference: nothing to warm)
    others = {id(routine): busy, id(busy): routine, id(everyday): everyone, id(everyone): []}
    ladder, rules, calendars = settings.ladder, settings.rules, settings.business_calendars()
    policies = enabled_policies(settings)
    host = PolicyHost(load_entry_points=False)
    host.register(Nothing, "nothing")
    reference = host.configure({"nothing": {"enabled": True}})

    def run(enabled, corpus: list[Ticket], profile: cProfile.Profile | None = None,
            starting: Callable[[], object] = lambda: None) -> tuple[int, float]:
        """The Escalator's evaluation of each ticket of ``corpus`` (webhook_app/escalation.py):
        how many fire, and the seconds that took. Every cache of words is emptied first and the
        other labelled tickets evaluated, untimed: each text of the corpus is new to the worker,
        the history's other tickets it has seen before (it evaluated them when they came in),
        so every ticket's words are computed once, in the pass that evaluates it. ``starting``
        is called when the timed part starts."""
        forget()
        for ticket in others[id(corpus)]:
            enabled.evaluate(ticket, now=now, tiers=ladder, history=history, calendars=calendars)
        starting()
        if profile:
            profile.enable()
        fired, started = 0, time.perf_counter()
        for ticket in corpus:
            evaluation = enabled.evaluate(ticket, now=now, tiers=ladder, history=history,
                                          calendars=calendars)
            fired += decide(ticket, evaluation.proposals, ladder, set(), rules=rules, now=now,
                            last_escalation=None).writes
        elapsed = time.perf_counter() - started
        if profile:
            profile.disable()
        return fired, elapsed

    if args.passes is not None:
        for _ in range(args.passes + 1):  # the first builds the matchers
            run(policies, everyone)
        return

    if args.per_policy:
        timing, spent = timed_policies(policies)
        print("microseconds per evaluation, each policy's call inside the evaluation, best of "
              f"{args.rounds} passes:")
        print(f"  {'':18}" + "".join(f"{name:>9}" for name in ("routine", "busy", "plain")))
        best = {}
        for name, corpus in (("routine", routine), ("busy", busy), ("plain", everyday)):
            for _ in range(args.rounds):
                run(timing, corpus, starting=lambda: spent.update(dict.fromkeys(spent, 0)))
                for policy, ns in spent.items():
                    us = ns / len(corpus) / 1000
                    best[name, policy] = min(best.get((name, policy), us), us)
        for policy in policies.names:
            print(f"  {policy:18}" + "".join(f"{best[name, policy]:9.1f}"
                                             for name in ("routine", "busy", "plain")))
        return

    if args.profile:
        corpus = {"busy": busy, "routine": routine, "plain": everyday}[args.profile]
        profile = cProfile.Profile()
        run(policies, corpus)  # matchers built
        for _ in range(20):
            run(policies, corpus, profile)
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)
        return

    def rate(call: Callable[[], tuple[int, float]], corpus: list[Ticket]) -> float:
        """Evaluations per second over at least ``--seconds`` of timed passes."""
        elapsed, done = 0.0, 0
        while elapsed < args.seconds:
            elapsed += call()[1]
            done += len(corpus)
        return done / elapsed

    cases = {"reference": (reference, everyone), "routine": (policies, routine),
             "busy": (policies, busy), "plain": (policies, everyday)}
    best = dict.fromkeys(cases, 0.0)
    for _ in range(args.rounds):
        for name, (enabled, corpus) in cases.items():
            best[name] = max(best[name], rate(lambda e=enabled, c=corpus: run(e, c), corpus))
    print(f"{len(tickets)} labelled tickets (bench/decisions), the standard preset: "
          f"{len(policies.names)} policies ({', '.join(policies.names)}) + decide, one core, "
          f"best of {args.rounds} rounds:")
    for name in ("routine", "busy", "plain"):
        corpus = cases[name][1]
        fired = run(policies, corpus)[0]
        print(f"  {name:8} {len(corpus):3} tickets, {fired / len(corpus):4.0%} fire: "
              f"{best[name]:8,.0f} evaluations/s = {best[name] / best['reference']:.3f}x the "
              "reference")
    print(f"  reference (one no-op policy + decide, all tickets): "
          f"{best['reference']:,.0f} evaluations/s")


if __name__ == "__main__":
    main()
