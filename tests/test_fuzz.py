"""Fuzzing the receiver (Hypothesis): whatever arrives at POST /webhooks/zendesk or /jira, the
answer is one of the documented codes and never a 5xx; the parsers return a storable Delivery or
raise Malformed / Ignored, nothing else.

Derandomized by default (CI, ~2,000 examples); ``HYPOTHESIS_PROFILE=long`` runs six times as
many with a random seed: ``HYPOTHESIS_PROFILE=long .venv/bin/pytest tests/test_fuzz.py
--hypothesis-show-statistics``.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from conftest import FIXTURES, SECRET, make_settings, postgres_store, recorded, sign
from hypothesis import currently_in_test_context, event, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import Headers

from webhook_app import MAX_BODY, create_app
from webhook_app.deliveries import (
    JIRA_IDENTIFIER,
    ZENDESK_INVOCATION,
    Ignored,
    Malformed,
    parse_jira,
    parse_zendesk,
)
from webhook_app.settings import JiraSettings
from webhook_app.signatures import (
    JIRA_SIGNATURE,
    JIRA_TOKEN_HEADER,
    ZENDESK_SIGNATURE,
    ZENDESK_TIMESTAMP,
    SignatureError,
    jira_signature,
    verify_jira_freshness,
    zendesk_signature,
)
from webhook_app.store import Delivery, Store, inbox

settings.register_profile("ci", derandomize=True, deadline=None, database=None,
                          print_blob=True)
settings.register_profile("long", deadline=None, database=None, print_blob=True)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
settings.load_profile(PROFILE)
SCALE = 6 if PROFILE == "long" else 1


def budget(examples: int) -> settings:
    """``examples`` per test in CI, six times that in the long profile."""
    return settings(max_examples=examples * SCALE)


ANSWERS = {200, 202, 400, 401, 413}  # ignored/duplicate, accepted, malformed, refused, too large
JIRA_SECRET = "jira-fuzz-secret"
JIRA_TOKEN = "jira-fuzz-token"


# -- encoding: JSON with raw tokens json.dumps will not write ---------------------------------


class Raw:
    """JSON text put verbatim into the body: huge integers, NaN, lone surrogate escapes, deep
    nesting."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"Raw({self.text[:60]!r}{'...' if len(self.text) > 60 else ''})"


def encode(value: object, *, ascii_only: bool = True, indent: int | None = None) -> bytes:
    raws: list[str] = []

    def swap(node: object) -> object:
        if isinstance(node, Raw):
            raws.append(node.text)
            return f"\ue000raw{len(raws) - 1}\ue000"
        if isinstance(node, dict):
            return {key: swap(item) for key, item in node.items()}
        if isinstance(node, list):
            return [swap(item) for item in node]
        return node

    text = json.dumps(swap(value), ensure_ascii=ascii_only, indent=indent)
    for n, raw in enumerate(raws):
        text = text.replace(json.dumps(f"\ue000raw{n}\ue000", ensure_ascii=ascii_only), raw, 1)
    return text.encode()


# -- strategies ---------------------------------------------------------------------------

RAW_TOKENS = ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1e-999", "-0", "0e0", "-0.0",
              "1E400", '"\\ud800"', '"\\udfff"', '"x\\ud83d"', '"\\ud83d\\ude00"', '"\\u0000"',
              '"4\\u00002"', '"\\ufeff42"', '"\\\\u0000"', '"\\/"']
huge_ints = st.builds(lambda sign_, digits: Raw(sign_ + "9" * digits),
                      st.sampled_from(["", "-"]),
                      st.one_of(st.integers(1, 100), st.integers(4290, 4310),
                                st.integers(4300, 20000)))


def _nested(depth: int, kind: str) -> Raw:
    if kind == "list":
        return Raw("[" * depth + "1" + "]" * depth)
    return Raw('{"a":' * depth + "1" + "}" * depth)


deep = st.builds(_nested, st.one_of(st.integers(1, 50), st.integers(850, 1100),
                                    st.integers(1100, 100000)),
                 st.sampled_from(["list", "dict"]))
long_text = st.one_of(st.integers(50, 300), st.integers(1000, 100000)).map(lambda n: "x" * n)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30), long_text, st.sampled_from(RAW_TOKENS).map(Raw), huge_ints,
)
IMPORTANT_KEYS = ["type", "id", "detail", "subject", "ticket_id", "updated_at", "actor",
                  "actor_id", "webhookEvent", "issue", "key", "timestamp", "user", "accountId",
                  "name", "comment", "author", "updateAuthor"]
keys = st.one_of(st.sampled_from(IMPORTANT_KEYS), st.text(max_size=12))
json_values = st.recursive(
    st.one_of(scalars, deep),
    lambda kids: st.one_of(st.lists(kids, max_size=4),
                           st.dictionaries(keys, kids, max_size=5)),
    max_leaves=12,
)

KEYS_AND_IDS = ["SEC/../x-1", "SEC-1/../../rest/api/2/myself", "ABC-1", "abc-1", "A-0", "A-",
                "-1", " 42 ", "42\n", "\t7", "\uff14\uff12", "\u0664\u0662", "\u00b2", "0",
                "00", "+1", "1e3", "0x1f", "1_000", "\x00", "42\x00", "ABC-1?x=1", "ABC-1#",
                "../../", "%2e%2e/", "A" * 300 + "-1", "ABC-1 ", "\u212a-1", "ABC\u00c9-1"]
numbers = st.one_of(
    st.integers(), st.integers(-1, 1), st.integers(-(2**70), 2**70), st.integers(0, 10**80),
    st.integers(10, 400).map(lambda n: Raw("1" + "0" * n)), huge_ints,
    st.floats(allow_nan=True, allow_infinity=True),
)
ids = st.one_of(
    st.none(), st.booleans(), numbers, st.integers(0, 300).map(lambda n: "7" * n),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=10),
    st.text(min_size=60, max_size=300), st.sampled_from(KEYS_AND_IDS),
    st.builds(lambda p, n: f"{p}-{n}", st.from_regex(r"[A-Z][A-Z0-9_]{0,80}", fullmatch=True),
              st.integers(0, 10**80)),
    st.sampled_from(RAW_TOKENS).map(Raw), deep,
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(),
                                                         max_size=2),
)


def _recorded_zendesk() -> dict:
    """The real Zendesk delivery (a user.deleted event) of tests/fixtures."""
    request = recorded("zendesk-api/webhook-invocation-attempts")["response"]["body"][
        "attempts"][0]["request"]
    return json.loads(request["payload"])


def _zendesk_bases() -> list[dict]:
    user_event = _recorded_zendesk()
    ticket_event = copy.deepcopy(user_event)
    ticket_event.update(type="zen:event-type:ticket.comment_added",
                        subject="zen:ticket:35436")
    ticket_event["detail"].update(id="35436", actor_id="555")
    trigger = {"ticket_id": "35436", "updated_at": user_event["time"], "actor": "555"}
    return [user_event, ticket_event, trigger]


ZENDESK_BASES = _zendesk_bases()
JIRA_BASES = [json.loads(path.read_bytes())
              for path in sorted((FIXTURES / "jira-webhooks").glob("*.json"))]
ZENDESK_PATHS = [("type",), ("id",), ("detail",), ("detail", "id"), ("detail", "actor_id"),
                 ("subject",), ("ticket_id",), ("updated_at",), ("actor",), ("event",)]
JIRA_PATHS = [("webhookEvent",), ("issue",), ("issue", "id"), ("issue", "key"), ("timestamp",),
              ("user",), ("user", "accountId"), ("user", "key"), ("user", "name"),
              ("comment",), ("comment", "author"), ("comment", "author", "accountId"),
              ("comment", "updateAuthor"), ("comment", "updateAuthor", "name")]
KINDS = {
    "type": ["zen:event-type:ticket.created", "zen:event-type:ticket.comment_added",
             "zen:event-type:user.deleted", "zen:event-type:", "zen:event-type:ticket.",
             "zen:event-type:ticket." + "x" * 200, "zen:ticket", ""],
    "webhookEvent": ["jira:issue_created", "jira:issue_updated", "comment_created",
                     "comment_updated", "jira:issue_deleted", "sprint_started", ""],
}


def _paths(node: object, prefix: tuple = ()) -> list[tuple]:
    """Every place in a JSON document (dict keys and list indexes), depth first."""
    found = []
    if isinstance(node, dict):
        items = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        return found
    for key, child in items:
        found.append((*prefix, key))
        found.extend(_paths(child, (*prefix, key)))
    return found


def _parent(doc: dict, path: tuple, *, create: bool) -> dict | list | None:
    node: object = doc
    for key in path[:-1]:
        if isinstance(node, dict):
            if create and not isinstance(node.get(key), dict | list):
                node[key] = {}
            node = node.get(key)
        elif isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
        else:
            return None
    return node if isinstance(node, dict | list) else None


def _retyped(value: object) -> object:
    if isinstance(value, str) and value.isdigit() and len(value) < 4000:
        return int(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return [value] if not isinstance(value, list) else {"value": value}


def _fresh(draw, base: dict) -> dict:
    """A copy of a recorded payload as if sent now: a Jira one stamped now, a Zendesk one with
    its own event id / update time (else most examples would be duplicates)."""
    doc = copy.deepcopy(base)
    if "webhookEvent" in doc:
        doc["timestamp"] = int(time.time() * 1000)
    elif "type" in doc:
        doc["id"] = str(draw(st.uuids()))
    else:
        doc["updated_at"] = draw(st.datetimes()).isoformat()
    return doc


@st.composite
def mutated(draw, bases: list[dict], important: list[tuple]) -> dict:
    """A recorded payload with one to four fields dropped, replaced or retyped."""
    doc = _fresh(draw, draw(st.sampled_from(bases)))
    for _ in range(draw(st.integers(1, 4))):
        if draw(st.booleans()):
            path = draw(st.sampled_from(important))
        else:
            path = draw(st.sampled_from(_paths(doc) or important))
        parent = _parent(doc, path, create=True)
        key = path[-1]
        if parent is None or (isinstance(parent, list) and
                              not (isinstance(key, int) and key < len(parent))):
            continue
        present = key in parent if isinstance(parent, dict) else True
        op = draw(st.sampled_from(["drop", "ids", "json", "retype", "kind"]))
        if op == "drop":
            if present:
                del parent[key]
        elif op == "retype" and present:
            parent[key] = _retyped(parent[key])
        elif op == "kind" and key in KINDS:
            parent[key] = draw(st.sampled_from(KINDS[key]))
        else:
            parent[key] = draw(ids if op == "ids" else json_values)
    return doc


@st.composite
def keyed(draw, bases: list[dict], important: list[tuple]) -> dict:
    """A recorded payload with one to three of the fields the parser reads set to any id."""
    doc = _fresh(draw, draw(st.sampled_from(bases)))
    for path in draw(st.lists(st.sampled_from(important), min_size=1, max_size=3)):
        parent = _parent(doc, path, create=True)
        if isinstance(parent, dict):
            parent[path[-1]] = draw(ids)
    return doc


zendesk_docs = st.one_of(mutated(ZENDESK_BASES, ZENDESK_PATHS),
                         keyed(ZENDESK_BASES, ZENDESK_PATHS))
jira_docs = st.one_of(mutated(JIRA_BASES, JIRA_PATHS), keyed(JIRA_BASES, JIRA_PATHS))
# What a server hands over from header bytes (latin-1 decoded; no CR/LF, which cannot occur).
header_text = st.one_of(
    st.text(max_size=40).map(lambda t: t.encode().decode("latin-1")),
    st.binary(max_size=40).map(lambda b: b.decode("latin-1")),
    st.integers(200, 70000).map(lambda n: "h" * n),
    st.sampled_from(["", " ", "\x00", "\u00e9\u00e8", "\t"]),
).map(lambda t: t.replace("\r", "").replace("\n", ""))
encodings = st.fixed_dictionaries({"ascii_only": st.booleans(),
                                   "indent": st.sampled_from([None, 0, 2])})


def fresh_zendesk_headers(body: bytes) -> dict[str, str]:
    return sign(body)


def jira_headers(body: bytes) -> dict[str, str]:
    return {"Content-Type": "application/json", JIRA_SIGNATURE: jira_signature(JIRA_SECRET, body)}


# -- the receiver under test --------------------------------------------------------------


def _app(tmp_path, store: Store | None = None):
    jira = JiraSettings(base_url="https://acme.atlassian.net", email="bot@acme.example",
                        api_token="jira-api-token", webhook_secret=JIRA_SECRET,
                        webhook_token=JIRA_TOKEN, tier_field="customfield_10050",
                        tier_values={"L1": "Tier 1", "L2": "Tier 2"})
    config = make_settings(tmp_path, jira=jira)
    if store is None:
        store = Store(config.database_url)
        store.create_schema()
    app = create_app(config, store=store)
    app.testing = True  # an exception in a view surfaces as itself, for Hypothesis to shrink
    return app, store


@pytest.fixture(scope="module")
def sqlite_app(tmp_path_factory):
    app, store = _app(tmp_path_factory.mktemp("fuzz"))
    yield app.test_client()
    store.close()


@pytest.fixture(scope="module")
def postgres_app(tmp_path_factory):
    """The receiver on a PostgreSQL store in a schema of its own (its column limits are real,
    SQLite's are not); skipped where no PostgreSQL answers."""
    with postgres_store(prefix="tierlift_fuzz") as store:
        app, _ = _app(tmp_path_factory.mktemp("fuzz-pg"), store)
        yield app.test_client()


PARSERS = {"zendesk": parse_zendesk, "jira": parse_jira}


def expected(platform: str, headers: dict[str, str], body: bytes, *,
             by_token: bool = False) -> set[int]:
    """What a correctly signed (or, ``by_token``, token-authenticated) delivery must get, by
    what the parser makes of it."""
    if len(body) > MAX_BODY:
        return {413}
    try:
        delivery = parse_jira(Headers(headers), body, by_token=by_token) if platform == "jira" \
            else parse_zendesk(Headers(headers), body)
    except Malformed:
        return {400}
    except Ignored:
        return {200}
    if platform == "jira" and delivery.sent_at is not None:
        try:
            verify_jira_freshness(Headers(headers), delivery.sent_at, now=time.time(),
                                  max_age=timedelta(minutes=5))
        except SignatureError:
            return {401}
    return {200, 202}  # accepted, or a duplicate of an earlier example


def post(client, platform: str, body: bytes, headers: dict[str, str], query: str = "") -> int:
    # The test client sends exactly ``body`` from a stream (given b"" and a multipart type, its
    # ``data=`` would write a multipart body of its own).
    response = client.post(f"/webhooks/{platform}{query}", input_stream=io.BytesIO(body),
                           headers={**headers, "Content-Length": str(len(body))})
    assert response.status_code < 500, response.get_data(as_text=True)[:500]
    assert response.status_code in ANSWERS, response.get_data(as_text=True)[:500]
    if currently_in_test_context():  # tallied by --hypothesis-show-statistics
        event(f"{platform} {response.status_code}")
    return response.status_code


def post_signed(client, platform: str, body: bytes, extra: dict[str, str] | None = None) -> int:
    headers = (fresh_zendesk_headers if platform == "zendesk" else jira_headers)(body)
    headers.update(extra or {})
    code = post(client, platform, body, headers)
    assert code in expected(platform, headers, body), body[:300]
    return code


def _padded(body: bytes, oversize: bool) -> bytes:
    return body + b" " * (MAX_BODY + 1 - len(body)) if oversize else body


oversize = st.integers(0, 14).map(lambda n: n == 7)  # about one body in fifteen too large
platforms = st.sampled_from(["zendesk", "jira"])


# -- (1) arbitrary bytes ------------------------------------------------------------------


@budget(150)
@given(platform=platforms, body=st.binary(max_size=2000), big=oversize,
       signed=st.booleans())
def test_arbitrary_bytes_get_a_documented_answer(sqlite_app, platform, body, big, signed):
    body = _padded(body, big)
    if signed:
        post_signed(sqlite_app, platform, body)
    else:
        assert post(sqlite_app, platform, body, {}) == (413 if big else 401)


# -- (2) arbitrary JSON, correctly signed -------------------------------------------------


@budget(200)
@given(platform=platforms, value=json_values, encoding=encodings)
def test_arbitrary_signed_json_reaches_the_parser_and_gets_a_documented_answer(
        sqlite_app, platform, value, encoding):
    post_signed(sqlite_app, platform, encode(value, **encoding))


@budget(200)
@given(platform=platforms, fields=st.dictionaries(keys, json_values | ids, max_size=8),
       encoding=encodings)
def test_signed_objects_with_the_expected_keys_get_a_documented_answer(
        sqlite_app, platform, fields, encoding):
    post_signed(sqlite_app, platform, encode(fields, **encoding))


# -- (3) mutations of the recorded payloads, correctly signed ------------------------------


@budget(200)
@given(doc=zendesk_docs, invocation=st.none() | header_text, encoding=encodings)
def test_mutated_zendesk_deliveries_get_a_documented_answer(sqlite_app, doc, invocation,
                                                            encoding):
    extra = {} if invocation is None else {ZENDESK_INVOCATION: invocation}
    post_signed(sqlite_app, "zendesk", encode(doc, **encoding), extra)


@budget(200)
@given(doc=jira_docs, identifier=st.none() | header_text, encoding=encodings)
def test_mutated_jira_deliveries_get_a_documented_answer(sqlite_app, doc, identifier,
                                                         encoding):
    extra = {} if identifier is None else {JIRA_IDENTIFIER: identifier}
    post_signed(sqlite_app, "jira", encode(doc, **encoding), extra)


# -- (4) headers: missing, garbled, huge, non-ASCII ----------------------------------------

STALE = [datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) + timedelta(days=400)]


@st.composite
def zendesk_auth(draw, body: bytes, how: str) -> tuple[dict[str, str], str, bool]:
    """Signature and timestamp headers for ``body`` made ``how``, and whether they are valid."""
    fresh = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    timestamp = fresh
    if how == "padded":
        timestamp = f" {fresh} "
    elif how in ("garbage", "signed-garbage"):
        timestamp = draw(header_text.filter(lambda t: not t.strip().startswith("20")))
    elif how == "stale":
        timestamp = draw(st.sampled_from(STALE)).isoformat()
    signature = zendesk_signature(SECRET, timestamp, body)
    if how == "garbage":
        signature = draw(header_text)
    elif how == "other-body":
        signature = zendesk_signature(SECRET, timestamp, body + b" ")
    headers = {ZENDESK_TIMESTAMP: timestamp, ZENDESK_SIGNATURE: signature}
    if how == "missing":
        headers = {}
    elif how == "no-timestamp":
        del headers[ZENDESK_TIMESTAMP]
    elif how == "no-signature":
        del headers[ZENDESK_SIGNATURE]
    return headers, "", how in ("valid", "padded")


@st.composite
def jira_auth(draw, body: bytes, how: str) -> tuple[dict[str, str], str, bool]:
    """Signature / token headers and query for ``body`` made ``how``, and whether they are
    valid."""
    digest = jira_signature(JIRA_SECRET, body).partition("=")[2]
    headers: dict[str, str] = {}
    query = ""
    valid = how in ("valid", "upper", "sha512", "token", "query-token")
    if how == "valid":
        headers[JIRA_SIGNATURE] = f"sha256={digest}"
    elif how == "upper":
        headers[JIRA_SIGNATURE] = f"SHA256={digest.upper()}"
    elif how == "sha512":
        headers[JIRA_SIGNATURE] = jira_signature(JIRA_SECRET, body, "sha512")
    elif how == "sha1":
        headers[JIRA_SIGNATURE] = f"sha1={digest[:40]}"
    elif how == "empty-digest":
        headers[JIRA_SIGNATURE] = "sha256="
    elif how == "garbage":
        headers[JIRA_SIGNATURE] = draw(header_text.filter(lambda t: t.strip() != ""))
    elif how == "token":
        headers[JIRA_TOKEN_HEADER] = JIRA_TOKEN
    elif how == "query-token":
        query = f"?token={JIRA_TOKEN}"
    elif how == "wrong-token":
        headers[JIRA_TOKEN_HEADER] = draw(header_text.filter(lambda t: t != JIRA_TOKEN))
    elif how == "garbage-query":
        query = "?token=" + quote(draw(st.text(max_size=300)).replace(JIRA_TOKEN, ""),
                                  safe="")
    elif how == "token-and-wrong-signature":
        headers.update({JIRA_TOKEN_HEADER: JIRA_TOKEN, JIRA_SIGNATURE: f"sha256={'0' * 64}"})
    return headers, query, valid


AUTH_HEADERS = {h.lower() for h in (ZENDESK_SIGNATURE, ZENDESK_TIMESTAMP, JIRA_SIGNATURE,
                                    JIRA_TOKEN_HEADER)}
junk_headers = st.dictionaries(
    st.from_regex(r"X-[A-Za-z0-9-]{1,30}", fullmatch=True).filter(
        lambda name: name.lower() not in AUTH_HEADERS), header_text, max_size=4)
content_types = st.sampled_from([None, "application/json", "text/plain",
                                 "multipart/form-data; boundary=x",
                                 "application/x-www-form-urlencoded",
                                 "application/json; charset=latin-1"])


ZENDESK_AUTH = ["valid", "padded", "missing", "garbage", "signed-garbage", "stale",
                "other-body", "no-timestamp", "no-signature"]
JIRA_AUTH = ["valid", "upper", "sha512", "sha1", "empty-digest", "garbage", "token",
             "query-token", "wrong-token", "garbage-query", "missing",
             "token-and-wrong-signature"]


@pytest.mark.parametrize(("platform", "how"), [("zendesk", how) for how in ZENDESK_AUTH] +
                         [("jira", how) for how in JIRA_AUTH])
@budget(15)
@given(data=st.data(), body=st.one_of(
    st.binary(max_size=300), zendesk_docs.map(encode), jira_docs.map(encode)),
       big=oversize, junk=junk_headers, content_type=content_types)
def test_any_headers_get_a_documented_answer(sqlite_app, platform, how, data, body, big, junk,
                                             content_type):
    body = _padded(body, big)
    headers = dict(junk)
    if content_type:
        headers["Content-Type"] = content_type
    auth, query, valid = data.draw((zendesk_auth if platform == "zendesk" else jira_auth)(
        body, how))
    headers.update(auth)
    code = post(sqlite_app, platform, body, headers, query)
    if big:
        assert code == 413
    elif not valid:
        assert code == 401
    else:
        assert code in expected(platform, headers, body,
                                by_token=how in ("token", "query-token")), (headers, query)


# -- the parsers, called directly ----------------------------------------------------------


def assert_storable(delivery: Delivery) -> None:
    """A Delivery a parser returns fits its inbox columns, on any database."""
    for name in ("platform", "dedupe_key", "ticket_ref", "kind", "payload", "actor",
                 "body_hash"):
        value = getattr(delivery, name)
        if value is None and name in ("actor", "body_hash"):
            continue
        assert isinstance(value, str), (name, value)
        value.encode("utf-8")  # no lone surrogate
        assert "\x00" not in value, name  # PostgreSQL text cannot hold NUL
        limit = getattr(inbox.c[name].type, "length", None)
        assert limit is None or len(value) <= limit, (name, len(value))


@budget(200)
@given(doc=zendesk_docs, invocation=st.none() | header_text, encoding=encodings)
def test_parse_zendesk_returns_a_storable_delivery_or_says_why_not(doc, invocation, encoding):
    headers = Headers({} if invocation is None else {ZENDESK_INVOCATION: invocation})
    try:
        delivery = parse_zendesk(headers, encode(doc, **encoding))
    except (Malformed, Ignored):
        return
    assert delivery.platform == "zendesk"
    assert delivery.ticket_ref.isascii() and delivery.ticket_ref.isdigit()
    assert_storable(delivery)


@budget(200)
@given(doc=jira_docs, identifier=st.none() | header_text, encoding=encodings,
       by_token=st.booleans())
def test_parse_jira_returns_a_storable_delivery_or_says_why_not(doc, identifier, encoding,
                                                                by_token):
    headers = Headers({} if identifier is None else {JIRA_IDENTIFIER: identifier})
    try:
        delivery = parse_jira(headers, encode(doc, **encoding), by_token=by_token)
    except (Malformed, Ignored):
        return
    assert delivery.platform == "jira"
    assert delivery.ticket_ref.isascii()
    assert delivery.ticket_ref.isdigit() or "-" in delivery.ticket_ref
    assert "/" not in delivery.ticket_ref and "." not in delivery.ticket_ref
    assert_storable(delivery)


@budget(150)
@given(platform=platforms, value=json_values | ids)
def test_the_parsers_take_any_json_document(platform, value):
    with contextlib.suppress(Malformed, Ignored):
        PARSERS[platform](Headers(), encode(value))


# -- PostgreSQL, whose column limits and text rules are enforced ---------------------------


@budget(120)
@given(platform=platforms, zendesk_doc=zendesk_docs, jira_doc=jira_docs,
       header=st.none() | header_text)
def test_mutated_deliveries_never_get_a_5xx_on_postgresql(postgres_app, platform, zendesk_doc,
                                                          jira_doc, header):
    doc = zendesk_doc if platform == "zendesk" else jira_doc
    name = ZENDESK_INVOCATION if platform == "zendesk" else JIRA_IDENTIFIER
    post_signed(postgres_app, platform, encode(doc), {} if header is None else {name: header})


# -- regressions: what the fuzzing found, as plain tests -----------------------------------


def _ticket_event(event_id: str) -> bytes:
    """A signed-ready Zendesk ticket event whose id is JSON text as given (escapes kept)."""
    return (b'{"type": "zen:event-type:ticket.comment_added", "id": "' + event_id.encode() +
            b'", "detail": {"id": "35436", "actor_id": "555"}}')


def test_a_lone_surrogate_escape_in_an_event_id_is_400_not_500(sqlite_app):
    """"\\ud800" decodes to a str SQLite's driver cannot encode (UnicodeEncodeError: a 500)."""
    assert post_signed(sqlite_app, "zendesk", _ticket_event("\\ud800")) == 400


def test_a_lone_surrogate_escape_in_a_jira_actor_is_400_not_500(sqlite_app):
    doc = copy.deepcopy(JIRA_BASES[0])
    doc.update(timestamp=int(time.time() * 1000), user={"accountId": Raw('"\\udfff"')})
    assert post_signed(sqlite_app, "jira", encode(doc)) == 400


@pytest.mark.parametrize(("event_id", "invocation"), [("\\u0000", None), ("e-1", "\x00")],
                         ids=["nul-escape-in-body", "nul-in-header"])
def test_a_nul_in_an_id_is_malformed(event_id, invocation):
    """PostgreSQL text refuses NUL: stored, it was a 503 the helpdesk retried for ever."""
    body = _ticket_event(event_id) if invocation is None else encode(
        {"ticket_id": "35436", "actor": "555"})
    headers = Headers({} if invocation is None else {ZENDESK_INVOCATION: invocation})
    with pytest.raises(Malformed, match="NUL"):
        parse_zendesk(headers, body)


def test_a_nul_in_an_event_id_is_400_on_postgresql(postgres_app):
    assert post_signed(postgres_app, "zendesk", _ticket_event("\\u0000")) == 400


@pytest.mark.parametrize("timestamp", ["100000000000000000", "-100000000000000000", "1" * 400],
                         ids=["beyond-timedelta", "negative", "beyond-float"])
def test_a_jira_timestamp_out_of_any_range_is_400_not_500(sqlite_app, timestamp):
    """10**17 ms overflowed the freshness check's timedelta, 10**399 the division by 1000."""
    doc = copy.deepcopy(JIRA_BASES[0])
    doc["timestamp"] = Raw(timestamp)
    assert post_signed(sqlite_app, "jira", encode(doc)) == 400
