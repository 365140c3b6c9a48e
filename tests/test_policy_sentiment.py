"""The sentiment policy: a transparent lexicon score of what the customer wrote recently."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from builders import LADDER, T0, comment, ticket
from pydantic import ValidationError

from connector.ticket import AuthorRole, TierChange
from plugins import sentiment
from plugins.decision import DecisionRules, decide
from plugins.manager import PolicyHost
from plugins.proposal import PolicyContext

FURIOUS = ("This is ABSOLUTELY UNACCEPTABLE!!! I have been waiting since Monday.\n"
           "I will cancel my subscription.")
AGENT_REPLY = "Thanks, I'm looking into it right now."


def evaluate(t, **options):
    ctx = PolicyContext(policy="sentiment", options=sentiment.Options(**options), now=T0,
                        tiers=LADDER)
    return sentiment.tierlift_evaluate(ticket=t, ctx=ctx)


def test_a_furious_comment_proposes_one_tier_up_with_score_terms_and_quote():
    t = ticket(comment(1, "The export fails since this morning.", minutes=0),
               comment(2, AGENT_REPLY, role=AuthorRole.AGENT, minutes=10),
               comment(3, FURIOUS, minutes=40))
    [proposal] = evaluate(t)
    assert proposal.policy == "sentiment"
    assert proposal.steps_up == 1 and proposal.tier is None
    assert proposal.priority is None and proposal.route is None and proposal.add_tags == ()
    [evidence] = proposal.evidence
    assert evidence.key == "comment:3"
    assert evidence.summary == ("customer is very upset (score 9.5 \u2265 6): unacceptable "
                                "\u00d71.5, i will cancel, CAPS, !!!")
    assert evidence.quote == ("This is ABSOLUTELY UNACCEPTABLE!!! I have been waiting since "
                              "Monday. I will cancel my subscription.")
    assert evidence.at == T0 + timedelta(minutes=40)
    assert proposal.suggestion.startswith("Reply personally and soon")
    assert decide(t, [proposal], LADDER).to_tier == "L2"


@pytest.mark.parametrize("text, total, terms", [
    (FURIOUS, 9.5, "unacceptable \u00d71.5, i will cancel, CAPS, !!!"),
    ("Third time I'm writing. It's ridiculous and a waste of time.", 7.0,
     "ridiculous, waste of time, third time"),
    ("I'm not angry, I'm furious.", 3.0, "furious"),  # the negation stays in its clause
    ("Worst. Service. Ever. The worst!", 6.0, "worst twice"),
    ("So   fed\nup", 4.5, "fed up \u00d71.5"),
    ("WHY IS THIS STILL BROKEN?!?!", 2.5, "CAPS, ?!?!"),  # THIS, STILL, BROKEN; one run
    ("WHY IS THIS STUPID THING STILL BROKEN AGAIN?! WHY?! REALLY?!", 4.0, "CAPS, ?!"),  # capped
    ("Pasted log: ERROR FATAL HTTPS NULL DEBUG WARNING", 0.0, ""),
    ("It\u2019s not ridiculous, it isn't unacceptable, no lawyer needed.", 0.0, ""),
    ("In the worst case we roll back; worst-case we wait; at worst a day.", 0.0, ""),
    ("Disappointed, frustrated, annoyed; really upset!", 8.0,
     "upset \u00d71.5, frustrated, disappointed, annoyed"),
])
def test_score_rules(text, total, terms):
    result = sentiment.score(text)
    assert (result.total, result.terms()) == (total, terms)


def test_terms_beyond_five_are_elided():
    result = sentiment.score("awful, terrible, horrible, useless, pathetic, garbage")
    assert result.terms() == "pathetic, useless, garbage, awful, terrible, \u2026"
    assert result.total == 14.0


@pytest.mark.parametrize("body", [
    # one angry word alone, even intensified or shouted, is not enough
    "This is unacceptable.",
    "I will forward this to our lawyer.",
    "Honestly, this is absolutely ridiculous.",
    "This is UNACCEPTABLE!!!",
    # polite complaints
    "I'm very frustrated with the delay, could you please look into it? Thank you!",
    "I am a bit disappointed that the export still fails, but thanks for your help so far.",
    # negated
    "This is not unacceptable, I'm not angry, just confused: no waste of time at all.",
    "I won't cancel my subscription, I'm not furious, we don't need a lawyer.",
    # everyday uses and log output
    "Worst case, we can wait until Monday. No rush!",
    "ERROR 500 FATAL: TIMEOUT CONNECTING TO HTTPS ENDPOINT",
    "",
])
def test_near_misses_do_not_fire(body):
    assert evaluate(ticket(comment(1, body))) == []


@pytest.mark.parametrize("role, public", [
    (AuthorRole.AGENT, True),  # an agent quoting the customer back
    (AuthorRole.AGENT, False),  # an internal note
    (AuthorRole.CUSTOMER, False),  # a private comment is not the customer speaking publicly
    (AuthorRole.SELF, False),  # tierlift's own note quotes the comment
])
def test_only_public_customer_comments_count(role, public):
    assert evaluate(ticket(comment(1, FURIOUS, role=role, public=public))) == []


@pytest.mark.parametrize("body", [
    "Thanks, that works now.\n\nOn Tue, 20 Nov 2026 at 09:00, Acme Support <help@acme.example> "
    "wrote:\n> This is ABSOLUTELY UNACCEPTABLE!!! I will cancel my subscription.",
    "Thanks, that works now.\n-----Original Message-----\nFrom: me\n" + FURIOUS,
    "> This is ABSOLUTELY UNACCEPTABLE!!!\n> I will cancel my subscription.\nAll good now, thanks.",
])
def test_quoted_mail_text_is_not_what_the_customer_says_now(body):
    assert evaluate(ticket(comment(1, body))) == []


def test_only_the_most_recent_customer_comments_are_scored_each_on_its_own():
    t = ticket(comment(1, FURIOUS, minutes=0),
               comment(2, AGENT_REPLY, role=AuthorRole.AGENT, minutes=5),
               comment(3, "Ok.", minutes=10), comment(4, "Any news?", minutes=20),
               comment(5, "This is absolutely ridiculous.", minutes=30),  # 3.75
               comment(6, "Honestly, this is very frustrating!!", minutes=40),  # 3 + 1
               comment(7, AGENT_REPLY, role=AuthorRole.AGENT, minutes=50))
    assert evaluate(t) == []  # comment 1 is older than the last three; 5 and 6 do not add up
    [proposal] = evaluate(t, recent=5)
    assert proposal.evidence[0].key == "comment:1"


def test_each_furious_comment_is_its_own_evidence_strongest_first():
    t = ticket(comment(1, "Unacceptable. Third time I ask, a complete waste of time.", minutes=0),
               comment(2, FURIOUS, minutes=30),
               comment(3, "Still broken. Ridiculous and pathetic!!", minutes=60))
    proposals = evaluate(t)
    assert [(p.evidence[0].key, p.evidence[0].summary.split(":")[0]) for p in proposals] == [
        ("comment:2", "customer is very upset (score 9.5 \u2265 6)"),
        ("comment:1", "customer is very upset (score 7.5 \u2265 6)"),
        ("comment:3", "customer is very upset (score 6.5 \u2265 6)"),
    ]


def test_after_an_agent_moves_the_ticket_back_only_a_new_furious_comment_escalates_again():
    moved_back = (TierChange(T0, "L1"), TierChange(T0 + timedelta(minutes=10), "L2"),
                  TierChange(T0 + timedelta(minutes=20), "L1"))
    t = ticket(comment(1, FURIOUS, minutes=5), comment(2, "ok thanks", minutes=30),
               tier="L1", history=moved_back)
    used = {("sentiment", "comment:1")}
    decision = decide(t, evaluate(t), LADDER, used=used)
    assert not decision.writes and len(decision.stale) == 1
    again = ticket(*t.comments, comment(3, "Never again. This is the worst support ever!!!",
                                        minutes=40), tier="L1", history=moved_back)
    decision = decide(again, evaluate(again), LADDER, used=used)
    assert decision.to_tier == "L2"
    assert decision.evidence_to_record() == [("sentiment", "comment:3", "escalated")]


def test_furious_again_in_the_higher_tier_asks_for_the_next_one():
    history = (TierChange(T0, "L1"), TierChange(T0 + timedelta(minutes=10), "L2"))
    t = ticket(comment(1, FURIOUS, minutes=5), comment(2, FURIOUS, minutes=30),
               tier="L2", history=history)
    decision = decide(t, evaluate(t), LADDER, used={("sentiment", "comment:1")})
    assert decision.to_tier == "L3"


def test_gated_until_the_minimum_effort_in_the_tier_is_met():
    t = ticket(comment(1, FURIOUS, minutes=5))
    rules = DecisionRules(min_agent_replies=1)
    decision = decide(t, evaluate(t), LADDER, rules=rules)
    assert not decision.writes
    assert decision.held[0][1] == "minimum effort in the current tier not met yet"


def test_a_long_comment_is_quoted_from_the_sentence_of_its_strongest_term():
    body = ("We exported the invoices for March. " * 8 + "This is absolutely UNACCEPTABLE!!! "
            "I will cancel my subscription tomorrow.")
    [proposal] = evaluate(ticket(comment(1, body)))
    assert proposal.evidence[0].quote == ("\u2026 This is absolutely UNACCEPTABLE!!! I will "
                                          "cancel my subscription tomorrow.")


def test_options_threshold_extra_words_and_steps_up():
    t = ticket(comment(1, "I want a refund now. This is the worst."))
    assert evaluate(t) == []
    assert len(evaluate(t, threshold=3)) == 1
    [proposal] = evaluate(t, extra_words={"Refund  Now": 4}, steps_up=2)
    assert proposal.steps_up == 2
    assert proposal.evidence[0].summary.endswith("(score 7 \u2265 6): refund now, worst")
    assert decide(t, [proposal], LADDER).to_tier == "L3"
    # weight 0 switches a built-in term off
    assert evaluate(t, threshold=3, extra_words={"worst": 0}) == []


def test_registered_to_read_comments_only():
    host = PolicyHost(load_entry_points=False)
    assert host.specs()["sentiment"].needs == frozenset({"comments"})
    enabled = host.configure({"sentiment": {"enabled": True, "extra_words": {"Rip-off": 3}}})
    assert enabled.options["sentiment"].extra_words == {"rip-off": 3.0}


@pytest.mark.parametrize("options, field", [
    ({"threshold": 0}, "threshold"),
    ({"threshold": -2}, "threshold"),
    ({"recent": 0}, "recent"),
    ({"extra_words": {"  ": 2}}, "extra_words"),
    ({"extra_words": {"!!!": 2}}, "extra_words"),
    ({"extra_words": {"rip-off": -1}}, "extra_words"),
    ({"extra_words": {"rip-off": 11}}, "extra_words"),
    ({"extra_words": ["rip-off"]}, "extra_words"),
    ({"steps_up": 0}, "steps_up"),
])
def test_invalid_options_are_refused_naming_the_field(options, field):
    with pytest.raises(ValidationError) as caught:
        sentiment.Options(**options)
    assert [e["loc"][0] for e in caught.value.errors()] == [field]


@pytest.mark.parametrize("text", [
    "furious\u2014really. \u00abunacceptable\u00bb, \u2018worst\u2019 (pathetic)",
    "fed\u00a0up, cancel\u2003my\nsubscription; can\u2019t believe it; WTF?!",
    "na\u00efve ridiculous\u00e9 sue_you sue-you", "\u00c4rger und Frust", "",
    "C\u2019EST INADMISSIBLE!!! j\u2019en ai marre", "WORST SERVICE EVER!!! lol",
])
def test_the_quick_word_test_never_hides_a_term(text):
    lex = sentiment.lexicon((("\u00e4rger", 3.0), ("frust", 2.0)))
    without_quick_test = replace(lex, keywords=None)
    assert sentiment.score(text, lex) == sentiment.score(text, without_quick_test)


def test_only_the_first_5000_characters_of_a_comment_are_read():
    log = "2026-11-20 09:00:01 export worker retrying batch 17 of 40\n" * 2000
    assert evaluate(ticket(comment(1, FURIOUS + "\n" + log))) != []
    assert evaluate(ticket(comment(1, log + FURIOUS))) == []


@pytest.mark.parametrize("body, summary", [
    ("We will cancel. This is unacceptable and frankly pathetic, my lawyer will be in touch.",
     "score 15 \u2265 6): lawyer will be in touch, we will cancel, unacceptable, pathetic"),
    ("Das ist eine absolute FRECHHEIT!!! Seit drei Wochen keine L\u00f6sung. Wenn das bis "
     "Freitag nicht behoben ist, k\u00fcndigen wir und schalten unseren Anwalt ein.",
     "score 20 \u2265 6): anwalt (ultimatum \u00d72), k\u00fcndigen wir (ultimatum \u00d72), "
     "frechheit \u00d71.5, !!!, CAPS"),
    ("Ich bin W\u00dcTEND. Das ist eine Unversch\u00e4mtheit, wir k\u00fcndigen!",
     "score 9.5 \u2265 6): w\u00fctend, unversch\u00e4mtheit, wir k\u00fcndigen, CAPS"),
    ("C'est INADMISSIBLE !!! Trois semaines sans r\u00e9ponse. On va r\u00e9silier et je vais "
     "porter plainte aupr\u00e8s de la DGCCRF.",
     "score 17.5 \u2265 6): je vais porter plainte, dgccrf, inadmissible, on va r\u00e9silier, "
     "!!!, \u2026"),
    ("\u00a1Esto es INACEPTABLE! Es la tercera vez que escribo. Vamos a cancelar el contrato y "
     "hablar\u00e9 con mi abogado.",
     "score 12.5 \u2265 6): mi abogado, inaceptable, vamos a cancelar, tercera vez, CAPS"),
    ("Isso \u00e9 um ABSURDO!!! Vamos cancelar a assinatura e abrir uma reclama\u00e7\u00e3o "
     "no Procon.",
     "score 11.5 \u2265 6): no procon, um absurdo, vamos cancelar, !!!, CAPS"),
    ("Terceira vez que escrevo e continua sem funcionar. Um absurdo, vou cancelar o contrato!",
     "score 10 \u2265 6): um absurdo, vou cancelar, terceira vez, continua sem funcionar"),
])
def test_furious_customers_in_their_own_languages(body, summary):
    [proposal] = evaluate(ticket(comment(5, body, minutes=15)))
    [evidence] = proposal.evidence
    assert evidence.key == "comment:5"
    assert evidence.summary == f"customer is very upset ({summary}"
    assert evidence.quote == " ".join(body.split())
    assert evidence.at == T0 + timedelta(minutes=15)
    assert proposal.steps_up == 1


@pytest.mark.parametrize("body", [
    # a churn or legal word alone, or asked about calmly
    "Wir k\u00fcndigen zum Monatsende.",
    "My manager asked me to find out how to cancel our subscription; our lawyer needs the terms.",
    "Mein Chef hat mich gebeten zu fragen: Wie k\u00fcndigen wir den Vertrag? Unser Anwalt "
    "braucht die AGB.",
    "Mon responsable m'a demand\u00e9 comment r\u00e9silier notre contrat, notre avocat veut "
    "les conditions.",
    "Mi jefe me pidi\u00f3 preguntar c\u00f3mo cancelar el contrato; nuestro abogado necesita "
    "las condiciones.",
    "Meu gerente pediu para perguntar como cancelar o contrato; nosso advogado precisa dos "
    "termos.",
    "My manager is furious about the outage and said it's unacceptable, can you send a status "
    "update?",
    # panic is not anger
    "HELP!!! URGENT!!! Payroll deadline is TODAY and nothing exports!!!",
    "DRINGEND!!! Hilfe!!! Die Gehaltsabrechnung muss heute raus!!!",
    "Urgent!!! La paie doit partir AUJOURD'HUI, rien ne s'exporte !!!",
    "\u00a1\u00a1AYUDA!! \u00a1URGENTE! La n\u00f3mina tiene que salir HOY!!",
    # jokes
    "LOL this bug is the WORST, I'm furious \U0001F602 just kidding, love the product",
    "jajaja el peor bug del mundo, estoy furioso jaja",
    "kkkkk pior sistema do mundo, to furioso kkkk",
    "Ce bug est le pire service de l'ann\u00e9e, je suis furieux... je plaisante !",
    # sarcasm without anger words
    "Oh great, the export is broken again. Just perfect, thanks a lot \U0001F643",
    # not angry, just curious
    "I'm not angry, just curious why the export takes so long.",
    "Ich bin nicht w\u00fctend, nur neugierig, warum der Export so lange dauert.",
    "Je ne suis pas en col\u00e8re, juste curieux.",
    "No estoy enojado, solo tengo curiosidad.",
    "N\u00e3o estou furioso, s\u00f3 curioso: por que a exporta\u00e7\u00e3o demora tanto?",
    # mild annoyance
    "Je suis vraiment d\u00e9\u00e7u, c'est la troisi\u00e8me fois que j'\u00e9cris. Merci "
    "quand m\u00eame.",
    "Un poco molesto por la demora, pero gracias por la ayuda.",
    "Ein bisschen \u00e4rgerlich, aber danke f\u00fcr die schnelle Hilfe.",
    "Estou um pouco chateado com a demora, mas obrigado.",
    "Wir k\u00fcndigen nicht, wir sind nur etwas entt\u00e4uscht.",
])
def test_near_misses_in_every_language(body):
    assert evaluate(ticket(comment(1, body))) == []


def test_not_kidding_is_no_joke():
    result = sentiment.score("I'm not kidding: this is UNACCEPTABLE, the worst support ever!!!")
    assert (result.total, result.terms()) == (7.5, "unacceptable, worst, !!!, CAPS")


def test_languages_packs_exclusions_and_negation_are_the_admins():
    rant = "Das ist eine FRECHHEIT!!! Wir k\u00fcndigen und schalten den Anwalt ein."
    assert len(evaluate(ticket(comment(1, rant)))) == 1
    assert evaluate(ticket(comment(1, rant)), languages=["en", "fr"]) == []
    swedish = "Det h\u00e4r \u00e4r OACCEPTABELT!!! Vi s\u00e4ger upp avtalet."
    assert evaluate(ticket(comment(1, swedish))) == []
    [proposal] = evaluate(ticket(comment(1, swedish)),
                          packs={"sv": {"terms": {"oacceptabelt": 3, "vi s\u00e4ger upp": 3}}})
    assert proposal.evidence[0].summary == ("customer is very upset (score 7.5 \u2265 6): "
                                            "oacceptabelt, vi s\u00e4ger upp, !!!, CAPS")
    assert evaluate(ticket(comment(1, rant)), exclude=["den anwalt", "wir k\u00fcndigen"]) == []
    assert evaluate(ticket(comment(1, rant)),
                    packs={"de": {"exclude": ["frechheit", "den anwalt"]}}) == []
    calm = "I'm not angry, not furious, we won't cancel our contract, no lawyer."
    assert evaluate(ticket(comment(1, calm))) == []
    assert len(evaluate(ticket(comment(1, calm)), negation=False)) == 1


def test_which_comments_are_read():
    t = ticket(comment(1, "Export fails."),
               comment(2, "Customer says: " + FURIOUS, role=AuthorRole.AGENT, minutes=5),
               comment(3, FURIOUS, role=AuthorRole.SELF, public=False, minutes=6))
    assert evaluate(t) == []
    assert [p.evidence[0].key for p in evaluate(t, comments="public")] == ["comment:2"]
    assert [p.evidence[0].key for p in evaluate(t, comments="all")] == ["comment:2"]


@pytest.mark.parametrize("options, message", [
    ({"languages": ["sv"]}, "languages: no pack for sv"),
    ({"packs": {"sv": {"terms": {"arg": 11}}}}, "weights are 0-10"),
    ({"packs": {"sv": {"terms": {"!!": 1}}}}, "must start and end with a letter"),
    ({"exclude": ["(x)"]}, "must start and end with a letter"),
    ({"comments": "agents"}, "expected one of customer, public, all"),
])
def test_invalid_language_options_say_why(options, message):
    with pytest.raises(ValidationError, match=message):
        sentiment.Options(**options)


@pytest.mark.parametrize("body, terms", [
    # a legal or regulator threat in its own words: extreme anger on its own (written policy)
    ("You can expect to hear from our lawyers.", "hear from our lawyers"),
    ("I am reporting you to the ICO.", "reporting you to"),
    ("See you in court.", "see you in court"),
    ("Wir sehen uns vor Gericht.", "sehen uns vor gericht"),
    ("Unser Anwalt wird sich bei Ihnen melden.", "anwalt wird sich bei ihnen melden"),
    ("Je vais porter plainte.", "je vais porter plainte"),
    ("Vous aurez des nouvelles de mon avocat.", "des nouvelles de mon avocat"),
    ("Nos vemos en los tribunales.", "nos vemos en los tribunales"),
    ("Os vamos a denunciar.", "os vamos a denunciar"),
    ("Nos vemos na justi\u00e7a.", "nos vemos na justi\u00e7a"),
    ("We stappen naar de rechter.", "stappen naar de rechter"),
    # a churn or legal threat made an ultimatum counts double
    ("If this isn't fixed by Friday we're cancelling.", "we're cancelling (ultimatum \u00d72)"),
    ("Put it back or we are gone at renewal.", "we are gone (ultimatum \u00d72)"),
    ("Unless this is fixed by Friday, we are switching to a competitor.",
     "switching to a competitor (ultimatum \u00d72)"),
    ("If nothing changes, we will not renew.", "will not renew (ultimatum \u00d72)"),
    ("Fix the sync or I'll take our business elsewhere.",
     "take our business elsewhere (ultimatum \u00d72)"),
    ("Wenn das bis Freitag nicht l\u00e4uft, k\u00fcndigen wir.",
     "k\u00fcndigen wir (ultimatum \u00d72)"),
    ("Wenn das so weitergeht, sind wir weg.", "sind wir weg (ultimatum \u00d72)"),
    ("Si c'est pas r\u00e9gl\u00e9 demain, on passe chez un concurrent.",
     "chez un concurrent (ultimatum \u00d72)"),
    ("Si ma\u00f1ana no est\u00e1 resuelto cancelamos el contrato.",
     "cancelamos el contrato (ultimatum \u00d72)"),
    ("Se n\u00e3o resolverem at\u00e9 amanh\u00e3, vamos cancelar.",
     "vamos cancelar (ultimatum \u00d72)"),
    ("Als dit morgen weer gebeurt zeggen we per direct op.",
     "zeggen we per direct op (ultimatum \u00d72)"),
])
def test_a_genuine_threat_is_enough_on_its_own(body, terms):
    [proposal] = evaluate(ticket(comment(3, body, minutes=5)))
    [evidence] = proposal.evidence
    assert evidence.summary == f"customer is very upset (score 6 \u2265 6): {terms}"
    assert evidence.quote == body
    assert evidence.at == T0 + timedelta(minutes=5)


@pytest.mark.parametrize("body, summary", [
    ("I've had it. If this isn't fixed by Friday we're cancelling and taking the whole company "
     "to Freshdesk. I'm not bluffing.",
     "score 11 \u2265 6): we're cancelling (ultimatum \u00d72), i've had it, not bluffing"),
    ("I'm done being patient. Our solicitors have been instructed to review the SLA in our "
     "contract. Consider this formal notice.",
     "score 12.5 \u2265 6): solicitors have been instructed, formal notice, i'm done"),
    # "are you kidding me" is no joke
    ("ARE YOU KIDDING ME. Six hours and not one update. This is a complete disgrace.",
     "score 6 \u2265 6): disgrace, are you kidding, CAPS"),
    ("@LoopwiseHelp 4 DAYS without working reports. WE ARE DONE. moving the whole team to "
     "another tool next month. pathetic",
     "score 9.5 \u2265 6): moving the whole team to another, pathetic, we are done, CAPS"),
    # Dutch
    ("Dit is echt ONACCEPTABEL en werkelijk waardeloos. Ik ben er klaar mee.",
     "score 11 \u2265 6): onacceptabel \u00d71.5, waardeloos, klaar mee, CAPS"),
    ("Voor de derde keer staan de routes niet klaar. Schandalig, ik ben het zat.",
     "score 8 \u2265 6): schandalig, ben het zat, derde keer"),
    ("ESTO ES UNA VERG\u00dcENZA. Si ma\u00f1ana no est\u00e1 resuelto cancelamos el contrato y "
     "os denunciamos.",
     "score 18 \u2265 6): denunciamos (ultimatum \u00d72), cancelamos el contrato (ultimatum "
     "\u00d72), una verg\u00fcenza, CAPS"),
])
def test_rants_and_threats_as_customers_write_them(body, summary):
    [proposal] = evaluate(ticket(comment(1, body)))
    assert proposal.evidence[0].summary == f"customer is very upset ({summary}"


@pytest.mark.parametrize("body", [
    # leaving, asked about or announced calmly: no ultimatum
    "If we cancel our subscription, do we keep our data?",
    "If this isn't fixed, can we cancel our subscription?",  # a question
    "We will cancel our subscription at the end of the term, please confirm.",
    "If you don't mind, please cancel our account at the end of the month.",  # a request
    "We're downsizing and won't need Loopwise after this quarter, so we will not renew.",
    "Wenn wir k\u00fcndigen, bekommen wir dann eine Rechnung?",
    "Si cancelamos el contrato, \u00bfqu\u00e9 pasa con los datos?",
    "Als we opzeggen, wat gebeurt er met onze gegevens?",
    "Hoe zeg ik ons abonnement op?",
    "Wat zeggen jullie op ons voorstel?",
    "We are moving the team to another office next week, please update the address.",
    "We are done with the migration, thanks for the help!",
    # lawyers named, not threatened with
    "Our legal team will be in touch about the DPA.",
    "Our solicitors instructed us to ask for the signed DPA.",
    "My accountant or my lawyer will review the invoice.",
    "Office Manager | Ashby & Rowe Solicitors",
    "I'm not going to sue you, I just want it fixed.",
    "Can you report this to the product team? We'd love the feature.",
    # surprise, not anger
    "Are you kidding? That's amazing news, thank you so much!",
])
def test_threat_near_misses(body):
    assert evaluate(ticket(comment(1, body))) == []


def test_terms_may_be_a_few_words_apart():
    lex = sentiment.lexicon((("schedule ... moved", 6.0),))
    assert sentiment.score("They schedule got moved again", lex).terms() == (
        "schedule got moved")
    assert sentiment.score("schedule it. Then it moved", lex).total == 0  # not across sentences
    [proposal] = evaluate(ticket(comment(1, "Wir k\u00fcndigen hiermit fristgerecht.")),
                          extra_words={"wir k\u00fcndigen ... fristgerecht": 6})
    assert proposal.evidence[0].summary == ("customer is very upset (score 6 \u2265 6): "
                                            "wir k\u00fcndigen hiermit fristgerecht")
