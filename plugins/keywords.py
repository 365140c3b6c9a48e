"""What the keyword policies share beyond :mod:`plugins.packs`: terms several of them use (a
failing third-party connector, a billing error), and an admin's pack of weighted terms (complexity,
sentiment)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from plugins.packs import clean_terms

# Third-party products whose connectors break, and the rest of a sentence, a few words.
APPS = (r"(?:salesforce|hubspot|shopify|slack|zapier|jira|ms teams|microsoft teams|"
        r"google sheets|google drive|quickbooks|xero|stripe|mailchimp|pipedrive|netsuite|sap|"
        r"dynamics|marketo|intercom|github|gitlab|outlook|gmail)")
SPAN = r"(?:[^.!?\n\0]|\.(?=\S)){0,60}?"

# A third-party connector failing, the product or the integration itself named (specialized's
# integrations route: the written policy's "failing third-party connector").
THIRD_PARTY_FAILURES: dict[str, tuple[str, ...]] = {
    "en": (rf"re:\b{APPS}\b{SPAN}\b(?:fail\w*|broken|stopped|errors?|not (?:working|syncing|"
           r"connecting|updating)|disconnected|out of sync)\b",
           rf"re:\b(?:failed|failing|fails|unable) to (?:sync|connect|push|pull)\w*\b{SPAN}"
           rf"\b{APPS}\b",
           "integration* ... fail*", "integration* ... broke*", "integration* ... stopped",
           "integration* ... error*", "integration* ... not working", "connector* ... fail*",
           "connector* ... broke*", "connector* ... error*", "connector* ... stopped"),
    "de": (rf"re:\b{APPS}\b{SPAN}\b(?:funktioniert nicht|geht nicht|fehler\w*|fehlgeschlagen|"
           r"kaputt|synchronisiert nicht|ausgefallen|schlagt fehl|schlug fehl)",
           "integration ... funktioniert nicht", "integration ... fehler*",
           "integration ... kaputt", "konnektor ... fehler*", "konnektor ... funktioniert nicht"),
    "fr": (rf"re:\b{APPS}\b{SPAN}\b(?:ne fonctionne (?:plus|pas)|ne marche (?:plus|pas)|"
           r"erreurs?|echou\w*|en panne|ne se synchronise (?:plus|pas))",
           "integration ... ne fonctionne plus", "integration ... ne fonctionne pas",
           "integration ... erreur*", "integration ... echou*", "connecteur ... erreur*",
           "connecteur ... ne fonctionne*"),
    "es": (rf"re:\b{APPS}\b{SPAN}\b(?:no funciona|falla\w*|errore?s?|no sincroniza|"
           r"dejo de sincronizar)",
           "integracion ... no funciona", "integracion ... falla*", "integracion ... error*",
           "conector ... falla*", "conector ... error*", "conector ... no funciona"),
    "pt": (rf"re:\b{APPS}\b{SPAN}\b(?:nao funciona|falh\w*|erros?|parou de sincronizar|"
           r"nao sincroniza)",
           "integracao ... nao funciona", "integracao ... falha*", "integracao ... erro*",
           "conector ... erro*", "conector ... falha*"),
    "it": ("integrazione ... non funziona", "integrazione ... errore"),
    "nl": ("integratie ... werkt niet", "integratie ... fout*"),
}
# A sync failing without saying whose: a connector's as often as the customer's own script
# against our API ("our nightly sync started failing: 429 Too Many Requests").
SYNC_FAILURES: dict[str, tuple[str, ...]] = {
    "en": ("sync ... failed", "sync ... failing", "sync error*", "stopped syncing"),
    "de": ("synchronisation ... fehl*", "synchronisierung ... fehl*", "synchronisiert nicht mehr"),
    "fr": ("synchronisation ... echou*", "synchronisation ... erreur*", "ne se synchronise plus"),
    "es": ("sincronizacion ... falla*", "no sincroniza", "dejo de sincronizar"),
    "pt": ("sincronizacao ... falha*", "parou de sincronizar", "nao sincroniza"),
    "it": ("sincronizzazione ... fallit*",),
    "nl": ("synchronisatie ... mislukt",),
}
# Either (complexity's "broken connector").
CONNECTOR_FAILURES: dict[str, tuple[str, ...]] = {
    code: (*terms, *SYNC_FAILURES.get(code, ())) for code, terms in THIRD_PARTY_FAILURES.items()
}

# A billing error to correct: charged twice, a wrong invoice, too much charged (specialized's
# billing; policy_exception leaves money asked back for one of these to billing).
BILLING_ERRORS: dict[str, tuple[str, ...]] = {
    "en": ("charged twice", "double charged", "double-charged", "double charge*",
           "duplicate charge*", "charged ... twice", "billed twice", "billed ... twice",
           "paid twice", "overcharged", "over-charged", "charged ... too much",
           "wrong charge*", "incorrect charge*", "charged ... wrong amount", "wrong invoice",
           "incorrect invoice", "invoice is wrong", "invoice ... is wrong", "invoice ... incorrect",
           "billing error", "invoice error", "error on ... invoice", "vat ... missing",
           "vat ... wrong"),
    "de": ("doppelt abgebucht", "doppelt belastet", "doppelt berechnet", "zweimal abgebucht",
           "zweimal belastet", "zweimal berechnet", "doppelte abbuchung", "doppelte belastung",
           "doppelt bezahlt", "zu viel berechnet", "zu viel abgebucht", "falscher betrag",
           "falsche rechnung", "rechnung ist falsch", "rechnung ... falsch", "fehlerhafte rechnung",
           "rechnung ... fehlerhaft", "fehler in ... rechnung", "mehrwertsteuer ... fehlt"),
    "fr": ("facture* deux fois", "debite* deux fois", "preleve* deux fois", "paye* deux fois",
           "double prelevement", "double debit", "double facturation", "trop facture",
           "trop preleve", "montant incorrect", "facture erronee", "facture incorrecte",
           "facture ... erronee", "facture ... incorrecte", "erreur de facturation",
           "erreur sur ... facture", "tva ... manquante"),
    "es": ("cobrado* dos veces", "cobraron dos veces", "cobro duplicado", "cargo duplicado",
           "doble cobro", "doble cargo", "cobro doble", "pagado dos veces", "cobraron de mas",
           "cobro indebido", "importe incorrecto", "factura incorrecta", "factura erronea",
           "factura ... incorrecta", "factura ... erronea", "error en la factura",
           "error de facturacion", "falta el iva"),
    "pt": ("cobrado* duas vezes", "cobraram duas vezes", "cobranca duplicada",
           "cobranca em dobro", "cobranca dupla", "cobrado em dobro", "pago duas vezes",
           "cobraram a mais", "cobranca indevida", "valor errado", "valor incorreto",
           "fatura errada", "fatura incorreta", "fatura ... errada", "fatura ... incorreta",
           "erro na fatura", "erro de cobranca", "nota fiscal ... errada"),
    "it": ("addebitato due volte", "doppio addebito", "fattura errata", "fattura sbagliata",
           "errore di fatturazione"),
    "nl": ("dubbel afgeschreven", "twee keer afgeschreven", "dubbel betaald",
           "verkeerde factuur", "factuur ... onjuist", "factuur klopt niet"),
}


class WeightedPackOptions(BaseModel):
    """An admin's pack for one language: more terms with their weight, and more exclusions."""

    model_config = ConfigDict(extra="forbid")

    terms: dict[str, float] = Field(default_factory=dict)
    exclude: list[str] = Field(default_factory=list)

    _exclusions = field_validator("exclude")(clean_terms)
