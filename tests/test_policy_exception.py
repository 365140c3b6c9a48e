"""The policy_exception policy: money asked back beyond tier-1 limits, and policy exceptions."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from builders import LADDER, T0, comment, ticket
from pydantic import ValidationError

from connector.ticket import AuthorRole, TierChange, TierLadder
from plugins import policy_exception
from plugins.decision import decide
from plugins.manager import ConfigError, PolicyHost
from plugins.proposal import PolicyContext

FIVE = TierLadder(("L0", "L1", "L2", "L3", "L4"), "L1")


def evaluate(t, *, tiers=LADDER, **options):
    ctx = PolicyContext(policy="policy_exception",
                        options=policy_exception.Options(**options), now=T0, tiers=tiers)
    return policy_exception.tierlift_evaluate(ticket=t, ctx=ctx)


def summaries(t, **options):
    return [e.summary for p in evaluate(t, **options) for e in p.evidence]


def test_a_refund_above_the_limit_proposes_the_next_tier_with_the_amount_and_limit():
    t = ticket(comment(7, "Hi. Please refund the $1,250.00 we paid for the annual plan. "
                          "Thanks!", minutes=5))
    [proposal] = evaluate(t)
    assert proposal.policy == "policy_exception"
    assert proposal.steps_up == 1 and proposal.tier is None
    assert proposal.priority is None and proposal.route is None and proposal.add_tags == ()
    [evidence] = proposal.evidence
    assert evidence.key == "comment:7"
    assert evidence.summary == "refund of USD 1,250.00 above the USD 100.00 limit"
    assert evidence.quote == "Please refund the $1,250.00 we paid for the annual plan."
    assert evidence.at == T0 + timedelta(minutes=5)
    assert proposal.suggestion == ("Tier 1 may grant up to USD 100.00: approve or decline the "
                                   "USD 1,250.00 as a supervisor, and tell the customer why.")
    assert decide(t, [proposal], LADDER).to_tier == "L2"


@pytest.mark.parametrize("body, summary", [
    ("We expect a refund of 1.250,00 € for the outage.",
     "refund of EUR 1,250.00 above the EUR 100.00 limit"),
    ("Please credit EUR 300 to our account.", "credit of EUR 300.00 above the EUR 100.00 limit"),
    ("We want 300 euros back as compensation.",
     "compensation of EUR 300.00 above the EUR 100.00 limit"),
    ("A refund of £140 would be fair.", "refund of GBP 140.00 above the GBP 100.00 limit"),
    ("We ask for a discount of USD 150.50 on the renewal.",
     "discount of USD 150.50 above the USD 100.00 limit"),
    ("We need a refund of 2k for the downtime.",
     "refund of USD 2,000.00 above the USD 100.00 limit"),
    ("A 1.5k credit would settle this.", "credit of USD 1,500.00 above the USD 100.00 limit"),
    ("I filed a chargeback for $450 with my bank.",
     "chargeback of USD 450.00 above the USD 100.00 limit"),
    ("Please reimburse the 1 250,00 € we spent on the consultant.",
     "reimbursement of EUR 1,250.00 above the EUR 100.00 limit"),
    ("We were charged US$ 300 and want our money back.",
     "refund of USD 300.00 above the USD 100.00 limit"),
    ("Refund: 300", "refund of USD 300.00 above the USD 100.00 limit"),
    ("we need a REFUND of about 450 for the outage",
     "refund of USD 450.00 above the USD 100.00 limit"),
    ("Refunded? No: 99.99 USD arrived, not the 120 GBP you promised as a refund.",
     "refund of GBP 120.00 above the GBP 100.00 limit"),
])
def test_amounts_and_currencies_as_customers_write_them(body, summary):
    assert summaries(ticket(comment(1, body))) == [summary]


@pytest.mark.parametrize("body", [
    "A refund of £40 is fine.",  # under the limit
    "Please refund USD 99.99.",
    "Refund the $100.00 please.",  # the limit itself is within authority
    "We get error 500 when we ask for a refund.",  # a number, not an amount
    "Please refund order #1234.",
    "Refund for order 1234 please.",
    "Since version 2.5 the refund button is gone.",
    "The refund page times out after 300 seconds.",
    "A discount for 150 users? And a 20% discount?",
    "Please refund us: the charge on 2026-11-20 at 10:30 was wrong.",
    "We pay $5,000 a year for your product and it keeps crashing.",  # no money word near
    "I paid $500 with my credit card.",  # "credit card" is not a credit
    "A refund of CAD 500, please.",  # a currency without a limit
    "A refund of 300 CHF, please.",
    "Refund of 2 300 please",  # two numbers or one? only a currency would tell
    "Please refund 1.2345 of it",
    "Refund 300x faster, please",
    "",
])
def test_near_misses_do_not_fire(body):
    assert evaluate(ticket(comment(1, body))) == []


def test_an_amount_with_a_currency_counts_within_the_window_of_a_money_word():
    body = ("We paid $1,250.00 for the yearly plan in January and used it for exactly one week "
            "before the migration broke everything, so we want a refund.")
    assert evaluate(ticket(comment(1, body))) == []  # 117 characters apart
    assert summaries(ticket(comment(1, body)), window=120) == [
        "refund of USD 1,250.00 above the USD 100.00 limit"]


def test_without_a_default_currency_bare_numbers_are_ignored():
    t = ticket(comment(1, "A refund of 300 please"), comment(2, "or a refund of $300"))
    assert [p.evidence[0].key for p in evaluate(t, default_currency=None)] == ["comment:2"]
    assert [p.evidence[0].key for p in evaluate(t, default_currency="")] == ["comment:2"]
    assert summaries(ticket(comment(1, "A refund of 300")), limits={"EUR": 50},
                     default_currency="EUR") == ["refund of EUR 300.00 above the EUR 50.00 limit"]


def test_a_currency_counts_once_it_has_a_limit():
    t = ticket(comment(1, "A refund of CAD 500, please."), comment(2, "Or SEK 2,000 credit."))
    assert summaries(t, limits={"USD": 100, "CAD": 150, "SEK": 1000}) == [
        "refund of CAD 500.00 above the CAD 150.00 limit",
        "credit of SEK 2,000.00 above the SEK 1,000.00 limit",  # the limit's code is understood
    ]


def test_the_largest_excess_of_a_comment_is_reported():
    t = ticket(comment(1, "Refund $150 for March and €900 for April, plus a 120 GBP credit."))
    assert summaries(t) == ["refund of EUR 900.00 above the EUR 100.00 limit"]


def test_a_money_word_in_the_subject_covers_the_description():
    t = replace(ticket(comment(1, "The outage cost us a full day: $450 would be fair.", minutes=1),
                       comment(2, "We also pay $5,000 a year.", minutes=9)),
                subject="Refund request")
    [proposal] = evaluate(t)
    assert proposal.evidence[0].key == "comment:1"
    assert proposal.evidence[0].summary == "refund of USD 450.00 above the USD 100.00 limit"
    assert proposal.evidence[0].quote == "The outage cost us a full day: $450 would be fair."


@pytest.mark.parametrize("subject, body", [
    ("Refund request", "We were charged $450 twice last month."),  # the subject's money word
    ("Charged twice", "Please refund the $450."),  # the subject's billing error
    ("Help", "I was charged twice, please refund the duplicate $1,250 charge."),
    ("Help", "The March invoice is wrong: credit us the €300 difference."),
    ("Hilfe", "Sie haben uns doppelt abgebucht, bitte erstatten Sie die 250 €."),
    ("Aide", "Nous avons été facturés deux fois, merci de rembourser les 250 €."),
    ("Ayuda", "Nos cobraron dos veces, por favor reembolsen los 250 €."),
    ("Ajuda", "Fui cobrado duas vezes, quero o estorno de 250 €."),
])
def test_correcting_a_billing_error_is_billing_not_an_exception_whatever_the_amount(subject,
                                                                                    body):
    t = replace(ticket(comment(1, body)), subject=subject)
    assert evaluate(t) == []
    assert len(evaluate(t, billing_errors=False)) == 1


def test_an_amount_in_the_subject_is_evidence_of_its_own():
    t = replace(ticket(comment(1, "see subject", minutes=3)), subject="Refund of €300 please")
    [proposal] = evaluate(t)
    [evidence] = proposal.evidence
    assert evidence.key == "subject" and evidence.at == T0
    assert evidence.summary == "refund of EUR 300.00 above the EUR 100.00 limit"
    assert evidence.quote == "Refund of €300 please"


@pytest.mark.parametrize("body, phrase", [
    ("Could you make an exception to your policy this once?", "make an exception"),
    ("Can you waive the fees for March?", "waive the fees"),
    ("We would like to extend our contract by two months at the old price.",
     "extend our contract"),
    ("We need to BREAK THE CONTRACT early.", "BREAK THE CONTRACT"),
    ("I know this is outside the refund window, but the product never worked.",
     "outside the refund window"),
    ("Can we get a one-time exception?", "one-time exception"),
])
def test_contract_and_policy_exceptions(body, phrase):
    [proposal] = evaluate(ticket(comment(4, body, minutes=2)))
    [evidence] = proposal.evidence
    assert evidence.key == "comment:4"
    assert evidence.summary == f'asks for a policy exception: "{phrase}"'
    assert evidence.quote == body
    assert proposal.suggestion == ("Decide on the exception as a supervisor and reply with the "
                                   "decision and its reason.")


@pytest.mark.parametrize("body", [
    "An exception is thrown in the log.",
    "Our contract ends in May; we will renew.",
    "The fee was waived already, thanks.",
    "Is the refund window 30 days?",
])
def test_exception_near_misses(body):
    assert evaluate(ticket(comment(1, body))) == []


def test_amount_and_exception_in_one_comment_make_one_piece_of_evidence():
    t = ticket(comment(1, "I know it is outside the refund window, but please refund the $450."))
    [proposal] = evaluate(t)
    assert proposal.evidence[0].summary == (
        'refund of USD 450.00 above the USD 100.00 limit; asks for a policy exception: '
        '"outside the refund window"')


def test_no_phrases_means_amounts_only():
    assert evaluate(ticket(comment(1, "Please waive the fee")), phrases=[]) == []


@pytest.mark.parametrize("role, public", [
    (AuthorRole.AGENT, True),  # the agent confirming what was asked
    (AuthorRole.AGENT, False),
    (AuthorRole.CUSTOMER, False),
    (AuthorRole.SELF, False),
])
def test_only_the_customers_public_words_count(role, public):
    t = ticket(comment(1, "Refund of $500 and waive the fee.", role=role, public=public))
    assert evaluate(t) == []


def test_each_comment_is_its_own_evidence_counted_from_its_own_tier():
    history = (TierChange(T0, "L1"), TierChange(T0 + timedelta(minutes=30), "L2"))
    t = ticket(comment(1, "Refund of $500 please", minutes=5),
               comment(2, "ok", role=AuthorRole.AGENT, minutes=10),
               comment(3, "And waive the cancellation fee", minutes=40),
               tier="L2", history=history)
    proposals = evaluate(t)
    assert [p.evidence[0].key for p in proposals] == ["comment:1", "comment:3"]
    assert [p.evidence[0].at for p in proposals] == [T0 + timedelta(minutes=5),
                                                     T0 + timedelta(minutes=40)]
    decision = decide(t, proposals, LADDER)
    assert decision.to_tier == "L3"  # asked again once in L2
    assert decision.evidence_to_record() == [("policy_exception", "comment:1", "satisfied"),
                                             ("policy_exception", "comment:3", "escalated")]


def test_an_absolute_supervisor_tier():
    t = ticket(comment(1, "Refund of $500 please"), tier="L1")
    [proposal] = evaluate(t, tiers=FIVE, tier="L3")
    assert proposal.tier == "L3" and proposal.steps_up == 0
    assert decide(t, [proposal], FIVE).to_tier == "L3"
    with pytest.raises(ValueError, match=r"option tier = 'L9' is not one of your tiers "
                                         r"\(L0, L1, L2, L3, L4\)"):
        evaluate(ticket(comment(1, "hello")), tiers=FIVE, tier="L9")


def test_no_bounce_after_a_move_down_but_a_new_request_escalates_again():
    t = ticket(comment(1, "Refund of $500 please", minutes=5))
    decision = decide(t, evaluate(t), LADDER)
    assert decision.to_tier == "L2"
    used = {(p, key) for p, key, _ in decision.evidence_to_record()}
    history = (TierChange(T0, "L1"), TierChange(T0 + timedelta(minutes=10), "L2"),
               TierChange(T0 + timedelta(minutes=20), "L1"))
    back = ticket(comment(1, "Refund of $500 please", minutes=5), tier="L1", history=history)
    assert not decide(back, evaluate(back), LADDER, used).writes
    again = ticket(comment(1, "Refund of $500 please", minutes=5),
                   comment(2, "Then at least a credit of $250?", minutes=30),
                   tier="L1", history=history)
    decision = decide(again, evaluate(again), LADDER, used)
    assert decision.to_tier == "L2"
    assert [r.proposal.evidence[0].key for r in decision.fired] == ["comment:2"]


@pytest.mark.parametrize("value, summary", [
    (250, "requested amount (field 360030) of USD 250.00 above the USD 100.00 limit"),
    (250.5, "requested amount (field 360030) of USD 250.50 above the USD 100.00 limit"),
    ("1,250.00", "requested amount (field 360030) of USD 1,250.00 above the USD 100.00 limit"),
    (Decimal("100.01"), "requested amount (field 360030) of USD 100.01 above the USD 100.00 "
                        "limit"),
    (80, None),
    (100, None),
    (None, None),
    ("n/a", None),
    (True, None),
    (float("nan"), None),
    (float("inf"), None),
])
def test_amount_fields(value, summary):
    t = replace(ticket(comment(1, "see the form")), custom_fields={"360030": value})
    proposals = evaluate(t, amount_fields=[360030])
    assert [p.evidence[0].summary for p in proposals] == ([summary] if summary else [])
    if summary:
        [evidence] = proposals[0].evidence
        assert evidence.key == f"field:360030:{Decimal(str(value).replace(',', '')):.2f}"
        assert evidence.at == T0 and evidence.quote is None


def test_a_changed_field_amount_is_new_evidence():
    t = replace(ticket(comment(1, "see the form")), custom_fields={"360030": 250})
    first = evaluate(t, amount_fields=["360030"])
    used = {("policy_exception", e.key) for p in first for e in p.evidence}
    assert not decide(t, evaluate(t, amount_fields=["360030"]), LADDER, used).writes
    changed = replace(t, custom_fields={"360030": 900})
    assert decide(changed, evaluate(changed, amount_fields=["360030"]), LADDER,
                  used).to_tier == "L2"


def test_options_are_normalised():
    options = policy_exception.Options(
        limits={"usd": 100, " eur ": "99.5"}, default_currency="eur",
        currencies={" US$ ": "usd"}, money_words={"refund": ["Money  Back", "refund"]},
        amount_fields=[360030, " 360031 "], phrases=["Waive  The FEE"], tier=" ")
    assert options.limits == {"USD": Decimal(100), "EUR": Decimal("99.5")}
    assert options.default_currency == "EUR"
    assert options.currencies == {"us$": "USD"}
    assert options.money_words == {"refund": ["money back", "refund"]}
    assert options.amount_fields == ["360030", "360031"]
    assert options.phrases == ["waive the fee"]
    assert policy_exception.Options(phrases=[r"re:\bWaive\W+it\b"]).phrases == [
        r"re:\bWaive\W+it\b"]
    assert options.tier is None


@pytest.mark.parametrize("options, field", [
    ({"limits": {}}, "limits"),
    ({"limits": {"US": 100}}, "limits"),
    ({"limits": {"USD": -1}}, "limits"),
    ({"limits": {"USD": "lots"}}, "limits"),
    ({"default_currency": "CAD"}, "default_currency"),  # no limit for it
    ({"default_currency": "dollars"}, "default_currency"),
    ({"currencies": {"$": "dollar"}}, "currencies"),
    ({"currencies": {" ": "USD"}}, "currencies"),
    ({"money_words": {}}, "money_words"),
    ({"money_words": {"refund": []}}, "money_words"),
    ({"money_words": {"refund": ["refund"], "credit": ["Refund"]}}, "money_words"),
    ({"money_words": {"refund": [" "]}}, "money_words"),
    ({"window": 0}, "window"),
    ({"amount_fields": ["360030"], "default_currency": None}, "amount_fields"),
    ({"amount_fields": [" "]}, "amount_fields"),
    ({"phrases": [" "]}, "phrases"),
    ({"phrases": "waive the fee"}, "phrases"),
    ({"steps_up": 0}, "steps_up"),
])
def test_invalid_options_are_refused_naming_the_field(options, field):
    with pytest.raises(ValidationError) as caught:
        policy_exception.Options(**options)
    assert [e["loc"][0] for e in caught.value.errors()] == [field]


def test_the_host_registers_it_and_names_bad_options_by_key():
    host = PolicyHost(load_entry_points=False)
    assert host.specs()["policy_exception"].needs == {"comments"}
    with pytest.raises(ConfigError) as caught:
        host.configure({"policy_exception": {"enabled": True, "limits": {"EUR": 100}}})
    [problem] = caught.value.problems
    assert problem.startswith("policies.policy_exception.default_currency: ")
    assert problem.endswith("USD has no limit in limits")


@pytest.mark.parametrize("body, summary", [
    ("Wegen des Ausfalls erwarten wir eine Gutschrift von 250 €.",
     "credit of EUR 250.00 above the EUR 100.00 limit"),
    ("Bitte erstatten Sie uns die 1.200,00 EUR für das Jahresabo.",
     "refund of EUR 1,200.00 above the EUR 100.00 limit"),
    ("Nous demandons un remboursement de 250 euros suite à la panne.",
     "refund of EUR 250.00 above the EUR 100.00 limit"),
    ("Pourriez-vous nous accorder une remise de 300€ sur le renouvellement ?",
     "discount of EUR 300.00 above the EUR 100.00 limit"),
    ("Un geste commercial de 150 € serait apprécié.",
     "compensation of EUR 150.00 above the EUR 100.00 limit"),
    ("Solicitamos un reembolso de 1.200,00 EUR por la caída del servicio.",
     "refund of EUR 1,200.00 above the EUR 100.00 limit"),
    ("¿Nos pueden hacer un descuento de 250 euros?",
     "discount of EUR 250.00 above the EUR 100.00 limit"),
    ("Queremos um desconto de €250 na renovação.",
     "discount of EUR 250.00 above the EUR 100.00 limit"),
    ("Pedimos o estorno de 250€ referente ao mês de março.",
     "refund of EUR 250.00 above the EUR 100.00 limit"),
    ("Could you waive the $150 onboarding fee?",
     "fee waiver of USD 150.00 above the USD 100.00 limit"),
    ("A compensation of $1,250 is the least you can do.",
     "compensation of USD 1,250.00 above the USD 100.00 limit"),
])
def test_concessions_in_every_language(body, summary):
    [proposal] = evaluate(ticket(comment(6, body, minutes=4)))
    [evidence] = proposal.evidence
    assert evidence.key == "comment:6"
    assert evidence.summary == summary
    assert evidence.at == T0 + timedelta(minutes=4)
    assert (proposal.steps_up, proposal.tier) == (1, None)


@pytest.mark.parametrize("body, phrase", [
    ("Könnten Sie für uns eine Ausnahme machen und die Gebühr erlassen?", "Ausnahme machen"),
    ("Können Sie ausnahmsweise die Mahngebühr erlassen?", "ausnahmsweise"),
    ("Pourriez-vous faire une exception et prolonger le contrat d'un mois ?",
     "faire une exception"),
    ("¿Pueden hacer una excepción? Estamos fuera del plazo de reembolso.",
     "hacer una excepción"),
    ("Vocês podem abrir uma exceção e isentar a multa de cancelamento?", "abrir uma exceção"),
])
def test_contract_and_policy_exceptions_in_every_language(body, phrase):
    [proposal] = evaluate(ticket(comment(2, body)))
    assert proposal.evidence[0].summary == f'asks for a policy exception: "{phrase}"'


@pytest.mark.parametrize("body", [
    # questions about the policy, not requests; a merchant refunding their own customers
    "What is your refund policy for the $500 plan?",
    "My manager asked me whether you ever give discounts above $500 for nonprofits.",
    "How do I issue a refund of $300 to my customer?",
    # cards, not credits
    "Ich habe 500 € mit der Kreditkarte bezahlt.",
    "J'ai payé 500 € par carte de crédit.",
    "Pagué 500 € con tarjeta de crédito.",
    "Paguei 500 € com cartão de crédito.",
    # negated
    "We don't want a refund of the $500, just fix the export.",
    "Wir wollen keine Erstattung der 500 €, nur eine Lösung.",
    "Nous ne demandons pas de remboursement des 500 €.",
    "No queremos un reembolso de los 500 €, solo una solución.",
    "Não queremos reembolso dos 500 €, só a solução.",
    # software exceptions are no policy exceptions
    "Eine Ausnahme wird beim Export ausgelöst.",
    "Une exception est levée lors de l'export.",
    "El SDK lanza una excepción al exportar.",
    # under the limit
    "Eine Gutschrift von 80 € wäre fair.",
    "Un remboursement de 99,99 € suffira.",
])
def test_near_misses_in_every_language(body):
    assert evaluate(ticket(comment(1, body))) == []


@pytest.mark.parametrize("body, summary", [
    # slang and the currency's name in the customer's language
    ("I think 150 quid off this month's bill is fair, don't you?",
     "discount of GBP 150.00 above the GBP 100.00 limit"),
    ("We'd like 200 bucks back as compensation for the outage.",
     "compensation of USD 200.00 above the USD 100.00 limit"),
    ("Hemos tirado 1.200 dólares a la basura. Exijo el reembolso completo YA.",
     "refund of USD 1,200.00 above the USD 100.00 limit"),
    ("Queremos um reembolso de 300 dólares.", "refund of USD 300.00 above the USD 100.00 limit"),
    ("Exigimos una compensación de 250 libras.",
     "compensation of GBP 250.00 above the GBP 100.00 limit"),
    ("Wir erwarten eine Entschädigung von 400 Pfund.",
     "compensation of GBP 400.00 above the GBP 100.00 limit"),
    # an amount taken off is a discount
    ("Can you take $200 off the renewal?", "discount of USD 200.00 above the USD 100.00 limit"),
])
def test_currencies_and_discounts_as_customers_say_them(body, summary):
    [proposal] = evaluate(ticket(comment(3, body)))
    assert [e.summary for e in proposal.evidence] == [summary]


@pytest.mark.parametrize("body", [
    "We'd take 20% off if you could, thanks.",
    "Turn off the invoice reminders please, we pay $500 a month.",
    "50 quid off would be nice.",  # under the limit
    "We spent 300 bucks on ads last month and need the campaign report.",
])
def test_currency_and_discount_near_misses(body):
    assert evaluate(ticket(comment(1, body))) == []


@pytest.mark.parametrize("body, phrase", [
    # keeping a retired price: a pricing exception
    ("We're on the old Growth plan, which is being retired at renewal. Can you keep us on the "
     "legacy price for one more year?", "keep us on the legacy price"),
    ("Could you honour our old pricing at renewal?", "honour our old pricing"),
    ("Können wir den alten Preis noch ein Jahr behalten?", "alten Preis noch ein Jahr behalten"),
    ("Pouvez-vous nous garder à l'ancien tarif encore un an ?", "garder à l'ancien tarif"),
    ("¿Pueden mantenernos el precio antiguo un año más?", "mantenernos el precio antiguo"),
    ("Vocês podem manter o preço antigo por mais um ano?", "manter o preço antigo"),
    ("Possiamo mantenere il prezzo vecchio ancora un anno?", "mantenere il prezzo vecchio"),
    ("Kunnen we de oude prijs behouden na de verlenging?", "oude prijs behouden"),
    # leaving a contract early, or without its fee
    ("We've been acquired. We'd like to end our 3-year agreement after year one, without the "
     "early termination fee in section 9.2.", "end our 3-year agreement after year one"),
    ("Please let us go without the cancellation fee.", "without the cancellation fee"),
    ("Can we get out of our contract early?", "get out of our contract early"),
    ("Wir möchten den Vertrag vorzeitig beenden, ohne die Vertragsstrafe.", "vorzeitig beenden"),
    ("Nous voudrions résilier sans les frais de résiliation anticipée.",
     "sans les frais de résiliation"),
    ("Queremos rescindir el contrato anticipadamente, sin la penalización.",
     "rescindir el contrato anticipadamente"),
    ("Queremos encerrar o contrato antes do prazo, sem a multa.",
     "encerrar o contrato antes do prazo"),
    ("We willen zonder boete opzeggen.", "zonder boete"),
])
def test_retired_prices_and_early_exits_are_exceptions(body, phrase):
    [proposal] = evaluate(ticket(comment(2, body)))
    assert [e.summary for e in proposal.evidence] == [f'asks for a policy exception: "{phrase}"']


@pytest.mark.parametrize("body", [
    "Can we keep the current plan and add three seats?",
    "What was the old price of the Growth plan?",
    "How do I move from the legacy plan to the new one?",
    "We don't need to keep the old price, the new plan is fine.",
    "What is the early termination fee?",
    "What happens if we end the contract early?",
    "Is there a cancellation fee if we leave early?",
    "Can I upgrade without any fees?",
    "Wie hoch ist die Gebühr bei vorzeitiger Kündigung?",
])
def test_retired_price_and_early_exit_near_misses(body):
    assert evaluate(ticket(comment(1, body))) == []


def test_languages_packs_exclusions_and_money_words():
    german = ticket(comment(1, "Bitte erstatten Sie uns 300 €."))
    assert evaluate(german, languages=["en"]) == []
    swedish = ticket(comment(1, "Vi ber om ett undantag från policyn."))
    assert evaluate(swedish) == []
    assert summaries(swedish, packs={"sv": {"terms": ["ett undantag från"]}}) == [
        'asks for a policy exception: "ett undantag från"']
    assert evaluate(ticket(comment(1, "A gift credit of €300 please")),
                    exclude=["gift credit"]) == []
    # money_words given replace the built-in ones, as before.
    assert evaluate(german, money_words={"refund": ["refund"]}) == []
    assert summaries(german, money_words={"refund": ["erstatten"]}) == [
        "refund of EUR 300.00 above the EUR 100.00 limit"]
    # phrases given replace the built-in packs' phrases; their exclusions still apply.
    assert evaluate(ticket(comment(1, "Bitte machen Sie eine Ausnahme machen")),
                    phrases=["make an exception"]) == []


def test_which_comments_are_read():
    t = ticket(comment(1, "The export broke."),
               comment(2, "Customer wants a refund of $900, outside the refund window.",
                       role=AuthorRole.AGENT, public=False, minutes=5))
    assert evaluate(t) == []
    [proposal] = evaluate(t, comments="all")
    assert proposal.evidence[0].key == "comment:2"
    assert proposal.evidence[0].at == T0 + timedelta(minutes=5)


def test_the_old_option_name_ignore_still_works_with_a_warning(caplog):
    host = PolicyHost(load_entry_points=False)
    with caplog.at_level(logging.WARNING, logger="plugins.manager"):
        enabled = host.configure({"policy_exception": {"enabled": True,
                                                       "ignore": ["gift credit"]}})
    assert enabled.options["policy_exception"].exclude == ["gift credit"]
    assert [r.getMessage() for r in caplog.records] == [
        "policies.policy_exception.ignore is deprecated: it is now called exclude"]
    t = ticket(comment(1, "A gift credit of €300 please"))
    assert enabled.evaluate(t, now=T0, tiers=LADDER).proposals == []
