"""The hooks a tierlift policy implements. This module is the plugin author's reference.

A policy is a module (or any object) with two functions marked ``@hookimpl``; its name is the
name it is registered under: the entry-point name for an installed plugin, the module name for a
built-in. A minimal third-party policy::

    # tierlift_legal/__init__.py
    from pydantic import BaseModel
    from plugins import hookimpl

    class Options(BaseModel):
        words: list[str] = ["lawyer", "legal action"]

    @hookimpl
    def tierlift_register_policy(register):
        register(Options, needs={"comments"}, summary="Customer mentions legal action")

    @hookimpl
    def tierlift_evaluate(ticket, ctx):
        for comment in ticket.comments:
            if comment.from_customer and any(w in comment.body.lower() for w in ctx.options.words):
                return ctx.propose(
                    ctx.evidence(f"comment:{comment.id}", "Customer mentions legal action",
                                 quote=comment.body[:200], at=comment.created_at),
                    steps_up=1,
                )
        return None

    # pyproject.toml of the plugin's distribution
    [project.entry-points.tierlift]
    legal = "tierlift_legal"

An admin then enables it with ``[policies.legal] enabled = true`` and any options.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("tierlift")


@hookspec
def tierlift_register_policy(register):
    """Declare this policy's options and the ticket data it reads. Called once at start-up.

    ``register(options, needs={"comments", "history"}, summary="")`` takes:

    - ``options``: a pydantic ``BaseModel`` class. The admin's ``[policies.<name>]`` table
      (without ``enabled``) is validated against it; unknown keys are a configuration error.
      Every field needs a default, so that enabling a policy is enough to use it.
    - ``needs``: what the ticket must carry: ``"comments"`` (``ticket.comments``) and/or
      ``"history"`` (``ticket.tier_history``). Ask only for what you read: each is an API call.
      ``"related"``: ``ctx.history.related(...)`` also holds the helpdesk's earlier tickets of
      the requester and organization (searched for, at most hourly), not only those tierlift saw.
    - ``summary``: one line for ``tierlift plugins``.
    - ``extra_needs``: optionally, a function of your validated options returning more needs
      (e.g. ``"platform_sla"``: the helpdesk's own SLA deadlines on ``ticket.platform_deadlines``)
      so that a costly read happens only when an option asks for it.

    Returns nothing. A plugin without this hook has no options and receives everything.
    """


@hookspec
def tierlift_evaluate(ticket, ctx):
    """Look at one ticket and propose an escalation, or nothing.

    Called for every enabled policy each time a ticket is evaluated, after a webhook or a
    deadline. ``ticket`` is a :class:`connector.Ticket` fetched just now; ``ctx`` is a
    :class:`plugins.proposal.PolicyContext` with ``ctx.options`` (your validated options),
    ``ctx.now``, ``ctx.tiers`` (the admin's ladder), ``ctx.history`` (tickets tierlift saw
    before), ``ctx.calendar(name)`` (business calendars), ``ctx.evidence(...)``,
    ``ctx.propose(...)``, and ``ctx.wake_at(moment)``: a policy with a deadline asks to be
    called again then, since no webhook may come (the scheduler enqueues the ticket).

    Return ``None``, one proposal, or a list of them. Give each piece of evidence a key that is
    stable for what it describes (``f"comment:{comment.id}"``): the host never escalates twice on
    the same key, so re-delivered webhooks, our own write coming back, and an agent's move back
    down do not cause another escalation. Propose freely: never calling an API, never writing,
    never moving a ticket down is the host's job, as is merging your proposal with the others.
    If you raise, the error is recorded in the audit log and the other policies still run.
    """


@hookspec
def tierlift_notify(event):
    """Tell people about an escalation, a missed deadline, or a write-back that failed.

    Called after tierlift wrote a tier move or a specialist route to the helpdesk (kind
    ``escalated``), when a policy reports a missed deadline (``breached``: evidence whose key
    ends in ``:breached``, as the sla policy marks one), and when the helpdesk refused a
    write-back or it kept failing until tierlift gave up (``write_failed``). Never in shadow
    mode, and never for a shadow policy.

    ``event`` is a :class:`plugins.notification.Notification`: ``kind``, ``platform``,
    ``ticket_ref``, ``from_tier``, ``to_tier``, ``route``, ``priority``, ``policies`` (the
    policies behind it), ``headline`` (the handoff note's first line), ``subject``, ``url``
    (a link to the ticket when the helpdesk's URL is known), ``at``, ``key``, and
    ``event.lines()`` for a ready-made plain-text message. Check ``event.kind`` and ignore the
    kinds you do not want.

    Each event reaches each notifier at most once, whatever the retries, re-deliveries and
    number of workers: the host records it in the store first. So send once and do not retry
    on your own. Return nothing; if you raise, the error is logged and recorded, the event is
    not sent again, and the evaluation is not affected. Example::

        @hookimpl
        def tierlift_notify(event):
            if event.kind == "breached":
                pager.open_incident("\\n".join(event.lines()))

    The built-in notifiers (Slack incoming webhook, e-mail) are configured under
    ``[notify.slack]`` and ``[notify.email]``.
    """
