"""The incident policy: similar tickets created within minutes of each other are one incident,
tagged as one, whenever and in whatever order they are evaluated."""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from datetime import timedelta, timezone
from itertools import permutations

import pytest
from builders import LADDER, T0, comment, ticket
from pydantic import ValidationError

from connector.ticket import Priority, TierChange
from plugins import incident, similarity
from plugins.decision import decide
from plugins.history import PastTicket, first_message, short_fields
from plugins.manager import ConfigError, PolicyHost
from plugins.proposal import PolicyContext
from webhook_app.store import Store, StoreHistory

TAG = re.compile(r"tierlift_incident_[0-9a-f]{8}")
HOUR = T0 + timedelta(hours=1)  # 10:00
# The written escalation policy (docs/escalation-policy.md): 3 tickets within 10 minutes, L3
# and urgent, tagged as one incident.
WRITTEN = {"count": 3, "minutes": 10, "route": "", "tier": "L3"}


class FakeHistory:
    """In-memory ``ctx.history``, filtering like the store does."""

    def __init__(self, *tickets: PastTicket) -> None:
        self.tickets = list(tickets)

    def related(self, platform, *, requester_id, organization_id, since):
        return []

    def recent(self, platform, *, since):
        return []

    def created_between(self, platform, start, end):
        return sorted((p for p in self.tickets
                       if p.platform == platform and start <= p.created_at <= end),
                      key=lambda p: (p.created_at, p.ref))


def report(ref: str, minute: float, subject: str, message: str = "", *,
           requester: str | None = None, tags: tuple[str, ...] = (),
           fields: dict | None = None):
    """A ticket created ``minute`` minutes after 10:00 by requester ``c<ref>``, the customer's
    first message ``message``."""
    created = HOUR + timedelta(minutes=minute)
    comments = (replace(comment(1, message), created_at=created),) if message else ()
    return replace(ticket(*comments, ref=ref, tags=tags), subject=subject, created_at=created,
                   requester_id=requester if requester is not None else f"c{ref}",
                   custom_fields=fields or {}, tier_history=(TierChange(created, "L1"),))


def indexed(t) -> PastTicket:
    """The ticket as the store indexes it."""
    return PastTicket(platform=t.platform, ref=t.ref, subject=t.subject, tags=t.tags,
                      form=t.form, requester_id=t.requester_id,
                      organization_id=t.organization_id, created_at=t.created_at,
                      status=t.status, first_message=first_message(t), fields=short_fields(t))


def evaluate(t, *others, now=None, **options):
    """Evaluate ``t`` with a history of ``others`` and ``t`` itself (the store indexes it)."""
    history = FakeHistory(*(indexed(o) for o in others), indexed(t))
    ctx = PolicyContext(policy="incident", options=incident.Options(**options),
                        now=now or t.created_at + timedelta(minutes=1), tiers=LADDER,
                        history=history)
    return incident.tierlift_evaluate(ticket=t, ctx=ctx)


def tag_of(proposal) -> str:
    [tag] = proposal.add_tags
    return tag


# Three customers report one outage in their own words within 6 minutes.
OUTAGE = [
    report("501", 2, "Dashboard down?",
           "Hi, since a few minutes our dashboard does not load anymore - we only get a blank "
           "page with a spinning wheel. Can you check?"),
    report("502", 5, "Can't log in \N{EN DASH} blank page",
           "After logging in I just see a blank white page, the dashboard never loads. Tried "
           "Chrome and Firefox and cleared the cache."),
    report("503", 8, "Is your service down?",
           "Our whole team is stuck on a blank page right now, nothing loads after login."),
]

# A busy morning: many customers, many unrelated questions, in the same ten minutes.
BUSY = [
    report("401", 0, "Invoice for October shows the wrong VAT rate",
           "Our October invoice has 19% VAT, but we are a reverse-charge customer in Austria. "
           "Please send a corrected invoice."),
    report("402", 0.5, "How do I add a new user?",
           "I'd like to give my colleague access to our workspace. Where do I add users?"),
    report("403", 1, "Export to CSV is empty",
           "When I export the monthly report to CSV the file only contains the header row."),
    report("404", 1.5, "Change billing email",
           "Please send our invoices to accounting@example.com from now on."),
    report("405", 2, "Password reset link expired",
           "The reset link in the email says it has expired, but I requested it five minutes "
           "ago."),
    report("406", 2.5, "Slack notifications stopped",
           "We no longer get Slack notifications for new comments since yesterday."),
    report("407", 3, "Dark mode for the mobile app?",
           "Is there a dark mode in the iOS app? The white screen is hard to read at night."),
    report("408", 3.5, "Cancel my subscription",
           "We are closing the company, please cancel our subscription at the end of the "
           "month."),
    report("409", 4, "Duplicate charge on my card",
           "I was charged twice for the November renewal, see the attached card statement."),
    report("410", 4.5, "API rate limit question",
           "What is the rate limit of the REST API on the Pro plan? We get 429 errors "
           "sometimes."),
    report("411", 5, "Logo not showing on invoices",
           "We uploaded our logo in the settings but the invoice PDF still shows the old one."),
    report("412", 5.5, "Sign-in slow since the update",
           "Signing in takes 20 seconds since your last release, is that known?"),
    report("413", 6, "Rechnung doppelt erhalten",
           "Wir haben die Rechnung für November zweimal bekommen, bitte prüfen Sie das."),
    report("414", 6.5, "Impossible de modifier mon adresse",
           "Je n'arrive pas à changer l'adresse de facturation dans les paramètres."),
    report("415", 7, "¿Cómo exporto mis datos?",
           "Necesito exportar todos los contactos a Excel, ¿dónde está la opción?"),
    report("416", 7.5, "Passwort vergessen",
           "Ich habe mein Passwort vergessen und bekomme keine E-Mail zum Zurücksetzen."),
    report("417", 8, "Can I get a copy of my invoice?",
           "I need the invoice for October as a PDF for our accounting, thanks."),
    report("418", 8.5, "Problème de connexion à l'application",
           "Je n'arrive pas à me connecter à l'application mobile, le mot de passe est refusé."),
    report("419", 9, "Reset password does not work",
           "I click reset password but I never get the email. Checked spam too."),
    report("420", 9.5, "No puedo cambiar mi contraseña",
           "Cuando intento cambiar la contraseña me sale un error en la página de perfil."),
]

# The same outage reported in German, French and Spanish.
LANGUAGES = {
    "de": [
        report("601", 1, "Dashboard lädt nicht",
               "Seit 10 Uhr bleibt das Dashboard nach dem Login komplett weiß. Bitte dringend "
               "prüfen!"),
        report("602", 4, "Nur weiße Seite nach dem Login",
               "Nach der Anmeldung sehe ich nur eine leere weiße Seite, das Dashboard erscheint "
               "nicht."),
        report("603", 7, "System down?",
               "Bei uns im ganzen Team bleibt die Seite nach dem Login weiß. Nichts geht mehr."),
    ],
    "fr": [
        report("611", 1, "Tableau de bord inaccessible",
               "Depuis 10h le tableau de bord reste blanc après la connexion."),
        report("612", 4, "Page blanche après connexion",
               "Après la connexion, je n'ai qu'une page blanche, le tableau de bord ne "
               "s'affiche pas."),
        report("613", 7, "Plateforme en panne ?",
               "Toute l'équipe a une page blanche après la connexion, plus rien ne marche."),
    ],
    "es": [
        report("621", 1, "El panel no carga",
               "Desde las 10 el panel se queda en blanco después de iniciar sesión."),
        report("622", 4, "Página en blanco al iniciar sesión",
               "Al iniciar sesión solo veo una página en blanco, el panel no aparece."),
        report("623", 7, "¿Servicio caído?",
               "Todo el equipo ve una página en blanco después de iniciar sesión."),
    ],
    "mixed": [
        report("631", 1, "Dashboard: Service Unavailable",
               "Beim Öffnen des Dashboards kommt nur „Error 503 \N{EN DASH} Service Unavailable“."),
        report("632", 4, "Erreur sur le tableau de bord",
               "En ouvrant le dashboard j'obtiens « Error 503 Service Unavailable »."),
        report("633", 7, "Error al abrir el dashboard",
               "Al abrir el dashboard aparece 'Error 503 Service Unavailable'."),
    ],
}


def test_three_customers_reporting_one_outage_in_their_own_words_are_one_incident():
    proposal = evaluate(OUTAGE[2], *OUTAGE[:2], *BUSY, **WRITTEN)
    assert proposal.policy == "incident"
    assert (proposal.tier, proposal.steps_up, proposal.route, proposal.priority) == \
        ("L3", 0, None, Priority.URGENT)
    tag = tag_of(proposal)
    assert TAG.fullmatch(tag)
    assert proposal.also_evaluate == ("501", "502")
    [evidence] = proposal.evidence
    assert evidence.key == f"incident:{tag}"
    assert evidence.summary == \
        "3 similar tickets created within 6 min look like one incident: #501, #502, #503"
    assert evidence.quote == "Is your service down?"
    assert evidence.at == HOUR + timedelta(minutes=8)  # when the third report came in
    decision = decide(OUTAGE[2], [proposal], LADDER)
    assert (decision.to_tier, decision.route, decision.priority) == ("L3", None, Priority.URGENT)
    assert decision.add_tags == (tag,)
    assert decision.also_evaluate == ("501", "502")


def test_the_first_two_reports_alone_are_not_an_incident():
    assert evaluate(OUTAGE[1], OUTAGE[0], *BUSY, **WRITTEN) is None


def test_every_member_gets_the_same_tag_and_key_live_or_five_hours_later():
    reference = evaluate(OUTAGE[2], *OUTAGE[:2], **WRITTEN)
    for later in (timedelta(0), timedelta(hours=5)):
        for t in OUTAGE:
            others = [o for o in (*OUTAGE, *BUSY) if o is not t]
            proposal = evaluate(t, *others, now=HOUR + timedelta(minutes=9) + later, **WRITTEN)
            assert proposal.add_tags == reference.add_tags
            assert proposal.evidence[0].key == reference.evidence[0].key
            assert proposal.evidence[0].summary == reference.evidence[0].summary
            assert proposal.evidence[0].at == HOUR + timedelta(minutes=8)
            assert proposal.also_evaluate == tuple(o.ref for o in OUTAGE if o is not t)


@pytest.mark.parametrize("order", list(permutations(range(3))))
def test_evaluated_in_any_order_with_each_write_back_seen_the_tag_is_the_same(order):
    reference = tag_of(evaluate(OUTAGE[2], *OUTAGE[:2], **WRITTEN))
    tickets = list(OUTAGE)
    for i in order:  # a backlog: all three known, evaluated one by one, tags written back
        proposal = evaluate(tickets[i], *(t for t in tickets if t is not tickets[i]),
                            now=HOUR + timedelta(hours=5), **WRITTEN)
        assert tag_of(proposal) == reference
        tickets[i] = replace(tickets[i], tags=(*tickets[i].tags, reference))


# A checkout outage reported eight times over 26 minutes: no stretch of 10 minutes holds all
# of them, yet they are one incident under one tag, whatever the order of evaluation.
SLIDING = [report(str(700 + n), minute, "Checkout fails with payment error",
                  "Our shop checkout fails: the payment step shows an error and the order is "
                  "lost.")
           for n, minute in enumerate((0, 3, 6, 9, 13, 17, 21, 26))]


@pytest.mark.parametrize("order", [range(8), range(7, -1, -1), (5, 2, 7, 0, 3, 6, 1, 4)])
def test_an_incident_longer_than_the_window_gets_one_tag_in_any_order(order):
    tags = set()
    for i in order:
        t = SLIDING[i]
        proposal = evaluate(t, *(o for o in SLIDING if o is not t), now=HOUR + timedelta(hours=3),
                            **WRITTEN)
        tags.add(tag_of(proposal))
    assert len(tags) == 1
    # #704 (minute 13) shares a stretch of 10 minutes with #701 (minute 3) to #706 (minute 21).
    middle = evaluate(SLIDING[4], *SLIDING[:4], *SLIDING[5:], **WRITTEN)
    assert middle.evidence[0].summary == "6 similar tickets created within 18 min look like " \
        "one incident: #701, #702, #703, #704, #705, #706"


def test_two_tickets_are_not_an_incident():
    assert evaluate(OUTAGE[2], OUTAGE[0], **WRITTEN) is None


def test_the_same_symptom_spread_over_three_hours_is_not_an_incident():
    # Two reports at a time, minutes apart, again and again: never three within 10 minutes.
    minutes = (0, 8, 40, 47, 95, 101, 150, 158, 180)
    spread = [replace(t, ref=f"8{n}", requester_id=f"s{n}",
                      created_at=HOUR + timedelta(minutes=minute))
              for n, (t, minute) in enumerate(zip(OUTAGE * 3, minutes, strict=True))]
    for t in spread:
        assert evaluate(t, *(o for o in spread if o is not t), **WRITTEN) is None


def test_a_busy_morning_of_unrelated_tickets_is_no_incident():
    for t in BUSY:
        assert evaluate(t, *(o for o in BUSY if o is not t), **WRITTEN) is None, t.subject


def test_an_outage_on_a_busy_morning_takes_in_only_the_outage_reports():
    for t in BUSY:
        assert evaluate(t, *(o for o in (*BUSY, *OUTAGE) if o is not t), **WRITTEN) is None
    proposal = evaluate(OUTAGE[0], *OUTAGE[1:], *BUSY, **WRITTEN)
    assert proposal.also_evaluate == ("502", "503")


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_one_outage_reported_in_german_french_spanish_or_a_mix(language):
    reports = LANGUAGES[language]
    tags = set()
    for t in reports:
        others = [o for o in (*reports, *BUSY) if o is not t]
        proposal = evaluate(t, *others, **WRITTEN)
        assert proposal.evidence[0].summary.startswith("3 similar tickets created within 6 min")
        tags.add(tag_of(proposal))
    assert len(tags) == 1
    assert evaluate(reports[1], reports[0], *BUSY, **WRITTEN) is None


def test_a_field_value_or_tag_shared_makes_tickets_alike_whatever_their_words():
    service = "360012"
    reports = [report("901", 0, "Cannot upload files", "Uploads hang at 99 %.",
                      fields={service: "storage"}),
               report("902", 3, "Attachments missing", "The files I attached are gone.",
                      fields={service: "storage", "360013": "x"}),
               report("903", 5, "Sync broken", "Desktop sync stopped.",
                      fields={service: "storage"})]
    assert evaluate(reports[2], *reports[:2], **WRITTEN) is None
    assert evaluate(reports[2], *reports[:2], match_fields=[360012], **WRITTEN) is not None
    other_value = replace(reports[1], custom_fields={service: "email"})
    assert evaluate(reports[2], reports[0], other_value, match_fields=[360012], **WRITTEN) is None
    tagged = [replace(t, tags=("svc_storage",)) for t in reports]
    assert evaluate(tagged[2], *tagged[:2], match_tags=["SVC_Storage"], **WRITTEN) is not None


def test_an_agents_move_before_the_incident_formed_does_not_hide_it():
    moved = replace(OUTAGE[0], tier="L2", tier_history=(
        TierChange(OUTAGE[0].created_at, "L1"), TierChange(HOUR + timedelta(minutes=4), "L2")))
    proposal = evaluate(moved, *OUTAGE[1:], **WRITTEN)
    assert proposal.evidence[0].at == HOUR + timedelta(minutes=8)
    assert decide(moved, [proposal], LADDER).to_tier == "L3"


# -- the options, and behaviour kept from the earlier version ------------------------------

LOGIN = [report(str(101 + n), minute, subject) for n, (minute, subject) in enumerate((
    (2, "Login failing with error 500"), (5, "Login failing: error 500!"),
    (9, "URGENT login failing, error 500"), (14, "Error 500 when I login")))]
FIFTH = report("105", 20, "Login failing (error 500) - please help")


def test_defaults_route_five_look_alikes_within_30_minutes_to_the_incident_team():
    proposal = evaluate(FIFTH, *LOGIN)
    assert (proposal.tier, proposal.route, proposal.priority) == \
        (None, "incident", Priority.URGENT)
    assert evaluate(FIFTH, *LOGIN[:3]) is None  # four
    assert evaluate(FIFTH, *LOGIN, minutes=15) is None  # #101 is 18 minutes before #105


def test_a_full_cache_of_looks_is_emptied_and_the_answer_stays(monkeypatch):
    monkeypatch.setattr(incident, "MAX_LOOKS", 2)
    proposal = evaluate(FIFTH, *LOGIN)
    assert (proposal.route, proposal.also_evaluate) == ("incident", ("101", "102", "103", "104"))


def test_members_that_already_carry_the_tag_keep_it_and_are_not_evaluated_again():
    tag = tag_of(evaluate(FIFTH, *LOGIN))
    tagged = [replace(t, tags=(*t.tags, tag)) for t in LOGIN[:2]]
    proposal = evaluate(FIFTH, *tagged, *LOGIN[2:])
    assert proposal.add_tags == (tag,)
    assert proposal.also_evaluate == ("103", "104")


def test_a_later_incident_tag_carried_by_a_member_wins():
    carried = replace(LOGIN[1], tags=("tierlift_incident_0badcafe",))
    assert evaluate(FIFTH, LOGIN[0], carried, *LOGIN[2:]).add_tags == \
        ("tierlift_incident_0badcafe",)


def test_each_ticket_is_escalated_into_the_incident_once():
    proposal = evaluate(OUTAGE[2], *OUTAGE[:2], **WRITTEN)
    tag = tag_of(proposal)
    assert decide(OUTAGE[2], [proposal], LADDER, {("incident", f"incident:{tag}")}).stale == \
        (proposal,)


def test_the_same_words_on_another_day_are_another_incident():
    tag = tag_of(evaluate(OUTAGE[2], *OUTAGE[:2], **WRITTEN))
    next_day = [replace(t, ref=str(int(t.ref) + 1000), created_at=t.created_at + timedelta(days=1))
                for t in OUTAGE]
    assert tag_of(evaluate(next_day[2], *next_day[:2], **WRITTEN)) != tag


def test_one_customer_writing_three_times_is_not_an_outage():
    same_person = [replace(t, requester_id="c7") for t in OUTAGE]
    assert evaluate(same_person[2], *same_person[:2], **WRITTEN) is None
    assert evaluate(same_person[2], *same_person[:2], distinct_requesters=False,
                    **WRITTEN) is not None


def test_a_ticket_listed_twice_by_the_history_counts_once():
    assert evaluate(OUTAGE[1], OUTAGE[0], OUTAGE[0], distinct_requesters=False,
                    **WRITTEN) is None


def test_tickets_without_a_requester_count_one_each():
    anonymous = [replace(t, requester_id=None) for t in OUTAGE]
    assert evaluate(anonymous[2], *anonymous[:2], **WRITTEN) is not None


@pytest.mark.parametrize("subject", ["Chat with Visitor 4711", "Help please!", "Question",
                                     "Re: ticket #12", "Not working"])
def test_generic_subjects_are_no_signature(subject):
    crowd = [report(str(200 + n), n, subject) for n in range(8)]
    assert evaluate(report("300", 8, subject), *crowd, **WRITTEN) is None


def test_ignore_words_drop_a_product_name_that_makes_everything_look_alike():
    crowd = [report("201", 1, "Acme sync failing"), report("202", 2, "Acme export broken")]
    t = report("205", 5, "Acme invoices error")
    assert evaluate(t, *crowd, subject_similarity=0.2, **WRITTEN) is not None
    assert evaluate(t, *crowd, subject_similarity=0.2, ignore_words=["ACME"], **WRITTEN) is None


# Reports naming one symptom only ("broken"), so that only the option under test decides.
EXPORTS = [report(str(301 + n), minute, "Export broken") for n, minute in enumerate((2, 5, 9, 14))]


@pytest.mark.parametrize("similarity, fires", [(0.5, True), (0.7, False)])
def test_subject_similarity_option(similarity, fires):
    # "Quarterly export broken" shares 2 of 3 words with "export broken".
    fifth = report("305", 20, "Quarterly export broken")
    assert (evaluate(fifth, *EXPORTS, subject_similarity=similarity) is not None) is fires


@pytest.mark.parametrize("similarity, fires", [(0.5, True), (0.6, False)])
def test_text_similarity_option(similarity, fires):
    # The first two share quarterly, revenue, column and "broken" (4 of their 8 words) with the
    # third.
    first = report("311", 1, "Revenue column missing", "The quarterly export lost its revenue "
                   "column, the file is broken.")
    twin = replace(first, ref="312", requester_id="c312")
    third = report("313", 6, "Finance sheet is wrong", "Our quarterly revenue sheet has one "
                   "column less, accounting is stuck with broken totals.")
    assert (evaluate(third, first, twin, text_similarity=similarity, subject_similarity=1,
                     **WRITTEN) is not None) is fires


def test_two_symptoms_one_of_them_a_failure_make_reports_alike_across_languages():
    runs = [report("321", 0, "Zeitgesteuerte Workflows laufen seit heute früh nicht",
                   "unsere zeitgesteuerten Workflows sind heute nicht gelaufen."),
            report("322", 3, "morning automations didn't fire",
                   "Our 6am automations didn't fire today, no schedules went out."),
            report("323", 6, "automações agendadas não rodaram hoje",
                   "as automações agendadas não rodaram hoje.")]
    assert evaluate(runs[2], *runs[:2], **WRITTEN) is not None


def test_an_http_error_status_in_the_text_counts_as_a_shared_word():
    dashboards = [
        report("601", 0, "Dashboards not loading - 503", "since a couple of minutes none of our "
               "dashboards load, a grey page saying 503 Service Unavailable. Tried Chrome."),
        report("602", 5, "error when opening any dashboard", "I'm getting '503 Service "
               "Temporarily Unavailable' whenever I open a dashboard, my colleague too."),
        report("603", 8, "service unavailable on dashboards??", "is there an outage? dashboards "
               "page gives me service unavailable (503) for the last few minutes"),
    ]
    assert evaluate(dashboards[2], *dashboards[:2], **WRITTEN) is not None
    priced = [report("611", 0, "Plan price went up", "why is our plan $503 now, not $450?"),
              report("612", 3, "Wrong amount billed", "we were billed 503.00 EUR, not 450"),
              report("613", 6, "Is this right?", "the quote says 503,00 - is that right?")]
    assert evaluate(priced[2], *priced[:2], **WRITTEN) is None


def test_an_error_status_alone_reports_a_failure_a_protocol_name_does_not():
    statuses = [report("621", 0, "Checkout webhook", "our checkout webhook gets 502 from you"),
                report("622", 4, "Checkout webhook", "the checkout webhook answers 502 again"),
                report("623", 7, "Checkout webhook", "checkout webhook calls come back 502")]
    assert evaluate(statuses[2], *statuses[:2], **WRITTEN) is not None
    protocols = [report("631", 0, "Checkout webhook", "does your checkout webhook speak http2"),
                 report("632", 4, "Checkout webhook", "checkout webhook over http2 please"),
                 report("633", 7, "Checkout webhook", "can the checkout webhook use http2?")]
    assert evaluate(protocols[2], *protocols[:2], **WRITTEN) is None


def test_symptoms_named_in_other_words_or_languages_are_shared():
    login = [
        report("701", 0, "Can't log in", "After I type my password and press Sign in, the page "
               "just keeps loading forever. Tried incognito and another browser."),
        report("702", 3, "Tweet from @kofi_builds", "@LoopwiseHelp is login down?? stuck on the "
               "spinner after entering my password for like 5 minutes now"),
        report("703", 5, "Anmeldung hängt", "Seit ein paar Minuten kommen wir nicht mehr ins "
               "System. Nach Eingabe des Passworts dreht sich nur noch das Lade-Symbol."),
        report("704", 8, "Is the site down?", "nobody in our office can get past the login "
               "screen, it just hangs after sign in. is this on your end?"),
    ]
    for t in login:
        proposal = evaluate(t, *(o for o in login if o is not t), **WRITTEN)
        assert proposal is not None and len(proposal.also_evaluate) == 3
    resets = [report("711", 0, "Password reset", "I forgot my password, please send a reset."),
              report("712", 4, "Reset my password", "Can you reset the password of my account?"),
              report("713", 7, "New password not working", "Set a new password, can't log in.")]
    assert evaluate(resets[2], *resets[:2], **WRITTEN) is None  # routine, not an outage


def test_without_tier_route_or_priority_it_only_tags():
    proposal = evaluate(FIFTH, *LOGIN, route="", priority="")
    assert (proposal.tier, proposal.route, proposal.priority, proposal.steps_up) == \
        (None, None, None, 0)
    decision = decide(FIFTH, [proposal], LADDER)
    assert decision.route is None and decision.to_tier is None
    assert decision.add_tags == proposal.add_tags


def test_a_long_list_of_members_is_cut_after_ten():
    crowd = [report(str(300 + n), n / 2, "Login failing with error 500") for n in range(14)]
    summary = evaluate(report("399", 8, "Login failing, error 500"), *crowd,
                       **WRITTEN).evidence[0].summary
    assert summary == "15 similar tickets created within 8 min look like one incident: #300, " \
        "#301, #302, #303, #304, #305, #306, #307, #308, #309 and 5 more"


@pytest.mark.parametrize("options, field", [
    ({"count": 1}, "count"),
    ({"minutes": 0}, "minutes"),
    ({"subject_similarity": 0}, "subject_similarity"),
    ({"text_similarity": 1.2}, "text_similarity"),
    ({"ignore_words": "acme"}, "ignore_words"),
    ({"match_fields": "360012"}, "match_fields"),
    ({"distinct_requesters": "sometimes"}, "distinct_requesters"),
    ({"priority": "asap"}, "priority"),
])
def test_invalid_options_are_refused_naming_the_field(options, field):
    with pytest.raises(ValidationError) as caught:
        incident.Options(**options)
    assert [e["loc"][0] for e in caught.value.errors()] == [field]


def test_the_old_option_name_similarity_still_works_with_a_warning(caplog):
    host = PolicyHost(load_entry_points=False)
    with caplog.at_level(logging.WARNING, logger="plugins.manager"):
        enabled = host.configure({"incident": {"enabled": True, "similarity": 0.7}})
    assert enabled.options["incident"].subject_similarity == 0.7
    assert [r.getMessage() for r in caplog.records] == \
        ["policies.incident.similarity is deprecated: it is now called subject_similarity"]
    with pytest.raises(ConfigError) as caught:
        host.configure({"incident": {"similarity": 0.7, "subject_similarity": 0.6}})
    assert caught.value.problems == ["policies.incident.similarity: renamed to "
                                     "subject_similarity, which is also given; remove similarity"]


def test_registered_needing_comments_and_configurable_through_the_host():
    host = PolicyHost(load_entry_points=False)
    spec = host.specs()["incident"]
    assert spec.options is incident.Options and spec.needs == frozenset({"comments"})
    enabled = host.configure({"incident": {"enabled": True, **WRITTEN}})
    history = FakeHistory(*map(indexed, OUTAGE))
    result = enabled.evaluate(OUTAGE[2], now=HOUR + timedelta(hours=5), tiers=LADDER,
                              history=history)
    assert [(p.tier, p.route, p.priority) for p in result.proposals] == \
        [("L3", None, Priority.URGENT)]


def test_forgetting_the_word_caches_reads_every_text_afresh():
    sig = similarity.signature(())
    words = similarity.words_of(sig, "checkout webhook fails with 502")
    assert words == {"~payment", "webhook", "~fail", "http502"}  # "checkout" names payment
    assert similarity.words_of.cache_info().currsize and sig._cache
    similarity.forget()
    assert not similarity.words_of.cache_info().currsize and not sig._cache
    assert not similarity.symptoms.cache_info().currsize
    kept = similarity.WordCache()
    kept.kept["a look"] = None
    similarity.forget()
    assert kept.kept == {}
    assert similarity.words_of(sig, "checkout webhook fails with 502") == words


def test_a_past_ticket_is_looked_at_again_once_it_has_changed():
    """Looks of past tickets are kept between evaluations, by what they hold: an edited subject
    or a field set since is read anew."""
    options = incident.Options(**WRITTEN, match_fields=["svc"])
    quiet = [report(str(n), n, f"question {n} about invoices") for n in (1, 2)]
    me = report("3", 3, "Checkout fails with 502 for everyone")

    def evaluated(*others):
        ctx = PolicyContext(policy="incident", options=options, now=HOUR + timedelta(hours=1),
                            tiers=LADDER, history=FakeHistory(*map(indexed, (*others, me))))
        return incident.tierlift_evaluate(ticket=me, ctx=ctx)

    assert evaluated(*quiet) is None
    failing = [replace(t, subject="Checkout fails with 502 for everyone") for t in quiet]
    [evidence] = evaluated(*failing).evidence
    assert evidence.summary.startswith("3 similar tickets created within 2 min")
    marked = [replace(t, custom_fields={"svc": "pay"}) for t in quiet]
    assert evaluated(*marked) is None  # marked alike one another, not like this ticket
    me = replace(me, custom_fields={"svc": "pay"})
    [evidence] = evaluated(*marked).evidence
    assert evidence.summary.startswith("3 similar tickets created within 2 min")
    assert evaluated(*quiet) is None


@pytest.fixture
def looked(monkeypatch) -> list[str]:
    """The refs of the tickets incident reads the words of (makes a look of), in order."""
    refs: list[str] = []
    real = incident._look
    monkeypatch.setattr(incident, "_look", lambda t, *args: refs.append(t.ref) or real(t, *args))
    return refs


def test_a_ticket_evaluated_now_is_not_looked_at_again_as_the_next_ones_neighbour(looked):
    """The ticket index keeps what the look reads (subject, first message, tags, fields), so a
    ticket's look made at its own evaluation serves the evaluations of the tickets after it."""
    options = incident.Options(**WRITTEN)

    def evaluated(t, *others):
        ctx = PolicyContext(policy="incident", options=options, now=HOUR + timedelta(hours=1),
                            tiers=LADDER, history=FakeHistory(*map(indexed, (*others, t))))
        return incident.tierlift_evaluate(ticket=t, ctx=ctx)

    assert evaluated(OUTAGE[0]) is None
    assert looked == [OUTAGE[0].ref]
    assert evaluated(OUTAGE[2], *OUTAGE[:2]).also_evaluate == (OUTAGE[0].ref, OUTAGE[1].ref)
    assert looked == [OUTAGE[0].ref, OUTAGE[2].ref, OUTAGE[1].ref]


def test_the_ticket_index_gives_back_what_the_look_was_kept_by(tmp_path, looked):
    """Through the store: tags of any case, custom fields of every shape and a creation time in
    another time zone come back from the ticket index as the look's cache knows them."""
    options = incident.Options(**WRITTEN, match_fields=["svc", "areas"])
    fields = {"svc": "Payments", "areas": ["checkout", "api"], "empty": None, "n": 7}
    tickets = [replace(t, tags=("Svc_Pay", "vip"), custom_fields=fields,
                       created_at=t.created_at.astimezone(timezone(timedelta(hours=1))))
               for t in OUTAGE]
    store = Store(f"sqlite:///{tmp_path / 'tierlift.db'}")
    store.create_schema()
    try:
        for t in tickets:
            store.index(t)
            ctx = PolicyContext(policy="incident", options=options, now=HOUR + timedelta(hours=1),
                                tiers=LADDER, history=StoreHistory(store))
            incident.tierlift_evaluate(ticket=t, ctx=ctx)
    finally:
        store.close()
    assert looked == [t.ref for t in tickets]
