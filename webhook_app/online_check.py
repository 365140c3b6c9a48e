"""``tierlift check --online``: read-only calls (GET only) showing, one line per check, what
will work on each configured helpdesk and what will not."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from connector.errors import AuthError, HelpdeskError, NotFound, Unavailable, raise_for_status
from connector.http import ApiSession
from connector.jira import ORGANIZATIONS_TYPE
from webhook_app.service import api_auth
from webhook_app.settings import JiraSettings, Settings, ZendeskSettings

OK, FAIL, UNCHECKED = "ok", "FAIL", "not checked"
SELECT_TYPE = "com.atlassian.jira.plugin.system.customfieldtypes:select"
MAX_PAGES = 50  # 100 groups, contexts or options a page
ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")


@dataclass(frozen=True)
class Line:
    platform: str
    status: str  # OK, FAIL or UNCHECKED
    text: str

    def __str__(self) -> str:
        return f"{self.platform}: {self.status:<4} {self.text}"


def online_lines(settings: Settings, *, issue: str | None = None) -> Iterator[Line]:
    """Every configured helpdesk's checks, in order; ``issue``: a sample Jira issue key."""
    sections: list[tuple[str, ZendeskSettings | JiraSettings, Callable]] = []
    if settings.zendesk is not None:
        sections.append(("zendesk", settings.zendesk, _zendesk))
    if settings.jira is not None:
        sections.append(("jira", settings.jira, lambda s, api: _jira(s, api, issue)))
    for platform, section, checks in sections:
        api = ApiSession(section.url, api_auth(section), timeout=(5.0, 15.0), max_attempts=2,
                         max_wait=5.0)
        said = 0
        try:
            for status, text in checks(section, api):
                said += 1
                yield Line(platform, status, text)
        except AuthError as exc:
            yield Line(platform, FAIL, f"authentication refused (HTTP {exc.status}): check "
                                       f"{_credentials(section)}" if not said else str(exc))
        except Unavailable as exc:
            if exc.status is None:
                yield Line(platform, FAIL, f"cannot reach {_shown(section.url)}: "
                                           f"{_reason(exc)}")
            else:
                yield Line(platform, FAIL, f"{_shown(section.url)} answered HTTP {exc.status}: "
                                           "try again later")
        except (HelpdeskError, ValueError, KeyError, TypeError) as exc:
            yield Line(platform, FAIL, f"unexpected answer from {_shown(section.url)}: "
                                       f"{type(exc).__name__}: {exc}")
        finally:
            api.session.close()


def _get(api: ApiSession, path: str, what: str, **params: object):
    response = api.get(path, **params)
    raise_for_status(response, what)
    return response.json()


# -- Zendesk --------------------------------------------------------------------------------


def _zendesk(zd: ZendeskSettings, api: ApiSession) -> Iterator[tuple[str, str]]:
    me = _get(api, "/api/v2/users/me.json", "users/me")["user"]
    role = me.get("role")
    if me.get("id") is None or role not in ("admin", "agent"):
        yield FAIL, (f"authenticated as {me.get('email') or 'an anonymous user'} ({role}): "
                     "tierlift's user must be an agent or an admin")
        return
    yield OK, f"authenticated as {me.get('email')} ({role})"
    yield OK, ("sweep: uses the incremental export (the bot is an admin)" if role == "admin"
               else "sweep: uses the Search API (the bot is an agent; the incremental export "
                    "needs an admin)")
    groups = _pages(api, "/api/v2/groups.json", "groups")
    assignable = {g["id"] for g in _pages(api, "/api/v2/groups/assignable.json",
                                          "assignable groups")}
    by_id = {g["id"]: g for g in groups}
    for key, table in (("tier_groups", zd.tier_groups), ("route_groups", zd.route_groups)):
        for name, group_id in table.items():
            group = by_id.get(group_id)
            where = f"{key}.{name} = {group_id}"
            if group is None:
                yield FAIL, f"{where}: no such group"
            elif group.get("deleted"):
                yield FAIL, f"{where}: group {group.get('name')!r} is deleted"
            elif group_id not in assignable:
                yield FAIL, (f"{where}: group {group.get('name')!r} is not among the groups "
                             "the bot can assign tickets to (its role restricts it)")
            else:
                yield OK, (f"{where}: group {group.get('name')!r}, the bot can move tickets "
                           "into it (no membership needed)")
    yield UNCHECKED, ("webhook: that a Zendesk webhook sends ticket events to tierlift's "
                      "/webhooks/zendesk, signed with webhook_secret (" +
                      ("listing webhooks needs an admin; " if role != "admin" else "") +
                      "send a test from Admin Center > Webhooks and look for it in tierlift "
                      "report)")


def _pages(api: ApiSession, path: str, what: str) -> list[dict]:
    """Every group of a cursor-paged listing (``links.next`` while ``meta.has_more``)."""
    items: list[dict] = []
    url: str | None = f"{path}?page[size]=100"
    for _ in range(MAX_PAGES):
        page = _get(api, url, what)
        items += page.get("groups") or []
        url = (page.get("links") or {}).get("next")
        if not (page.get("meta") or {}).get("has_more") or not url:
            break
        if urlsplit(url).netloc != urlsplit(api.base_url).netloc:
            raise ValueError(f"{what}: next page {url!r} is off {_shown(api.base_url)}")
    return items


# -- Jira -----------------------------------------------------------------------------------


def _jira(jira: JiraSettings, api: ApiSession, issue: str | None
          ) -> Iterator[tuple[str, str]]:
    rest = "/rest/api/3" if jira.cloud else "/rest/api/2"
    me = _get(api, f"{rest}/myself", "myself")
    who = me.get("emailAddress") or me.get("name") or me.get("accountId")
    yield OK, f"authenticated as {who} ({me.get('displayName')})"
    fields = {str(f.get("id")): f for f in _get(api, f"{rest}/field", "fields")}
    selects = [("tier_field", jira.tier_field, "tier_values", jira.tier_values)]
    if jira.route_field:
        selects.append(("route_field", jira.route_field, "route_values", jira.route_values))
    usable: list[tuple[str, str, dict[str, str]]] = []  # option tables whose field is fine
    for key, field_id, values_key, values in selects:
        field = fields.get(field_id)
        if field is None:
            yield FAIL, f"{key} {field_id}: no such field (or the bot cannot see it)"
        elif (field.get("schema") or {}).get("custom") != SELECT_TYPE:
            yield FAIL, (f"{key} {field_id} ({field.get('name')!r}): not a single-select "
                         f"field ({(field.get('schema') or {}).get('custom') or 'a system field'})")
        else:
            yield OK, f"{key} {field_id} ({field.get('name')!r}): a single-select field"
            usable.append((values_key, field_id, values))
    yield from _organizations_field(jira, fields)
    editable = None
    if issue is not None:
        try:
            editable = _get(api, f"{rest}/issue/{quote(issue)}/editmeta",
                            f"edit metadata of issue {issue}").get("fields") or {}
        except NotFound:
            yield FAIL, f"--issue {issue}: no such issue (or the bot cannot browse it)"
            return
        for key, field_id, _, _ in selects:
            if field_id in fields:
                yield ((OK, f"{key} {field_id} is on the edit screen of {issue}")
                       if field_id in editable else
                       (FAIL, f"{key} {field_id} is not on the edit screen of {issue} (or the "
                              "bot may not edit it): add it to the project's edit screen"))
    else:
        yield UNCHECKED, ("tier_field on the edit screen: screens are per project and issue "
                          "type (give --issue KEY)")
    for values_key, field_id, values in usable:
        yield from _options(api, jira, rest, values_key, field_id, values, editable, issue)
    names = {str(p.get("name")) for p in _get(api, f"{rest}/priority", "priorities")}
    missing = sorted({v for v in jira.priorities.values() if v not in names})
    yield ((FAIL, f"priorities: no priority named {', '.join(map(repr, missing))} (the site "
                  f"has {', '.join(sorted(names))})") if missing else
           (OK, f"priorities: {', '.join(jira.priorities.values())} exist"))
    if jira.transition is None:
        return
    if issue is None:
        yield UNCHECKED, (f"transition {jira.transition!r}: transitions are per issue and "
                          "status (give --issue KEY)")
        return
    available = [str(t.get("name")) for t in
                 _get(api, f"{rest}/issue/{quote(issue)}/transitions",
                      f"transitions of issue {issue}").get("transitions") or ()]
    if jira.transition.casefold() in (name.casefold() for name in available):
        yield OK, f"transition {jira.transition!r} is available on {issue}"
    else:
        yield FAIL, (f"transition {jira.transition!r} is not available on {issue} in its "
                     f"status (available: {', '.join(available) or 'none'}); give an issue in "
                     "the status tierlift escalates from")


def _organizations_field(jira: JiraSettings, fields: dict[str, dict]
                         ) -> Iterator[tuple[str, str]]:
    if jira.organizations_field is None:
        found = [f for f, meta in fields.items()
                 if (meta.get("schema") or {}).get("custom") == ORGANIZATIONS_TYPE]
        yield OK, (f"organizations_field: not set; found {found[0]}" if found else
                   "organizations_field: not set, and no Service Management Organizations "
                   "field: issues carry no organization")
        return
    field = fields.get(jira.organizations_field)
    if field is None:
        yield FAIL, f"organizations_field {jira.organizations_field}: no such field"
    elif (field.get("schema") or {}).get("custom") != ORGANIZATIONS_TYPE:
        yield FAIL, (f"organizations_field {jira.organizations_field} "
                     f"({field.get('name')!r}): not the Service Management Organizations field")
    else:
        yield OK, f"organizations_field {jira.organizations_field} ({field.get('name')!r})"


def _options(api: ApiSession, jira: JiraSettings, rest: str, key: str, field_id: str,
             values: dict[str, str], editable: dict | None, issue: str | None
             ) -> Iterator[tuple[str, str]]:
    """Every option ``values`` names is an enabled option of ``field_id``: from the field's
    contexts (Cloud, a Jira admin), else from the sample issue's edit screen."""
    options = None
    if jira.cloud:
        try:
            options = _context_options(api, rest, field_id)
        except AuthError as exc:
            if exc.status != 403:
                raise
    where = f"of {field_id}"
    if options is None and editable is not None and field_id in editable:
        options = [str(o.get("value")) for o in editable[field_id].get("allowedValues") or ()]
        where = f"of {field_id} on {issue}'s edit screen"
    if options is None:
        why = "listing a field's options needs a Jira admin; " if jira.cloud else ""
        yield UNCHECKED, f"{key}: {why}give --issue KEY to read them on an issue's edit screen"
        return
    wanted = {name: value for name, value in values.items() if value not in options}
    for name, value in wanted.items():
        yield FAIL, (f"{key}.{name} = {value!r}: not an option {where} (options: "
                     f"{', '.join(map(repr, options))})")
    if not wanted:
        verb = "is an option" if len(values) == 1 else "are options"
        yield OK, (f"{key}: {', '.join(map(repr, values.values()))} {verb} {where}"
                   if values else f"{key}: none configured")


def _context_options(api: ApiSession, rest: str, field_id: str) -> list[str]:
    """The enabled options of every context of a custom field (Cloud; 403 unless an admin)."""
    contexts = _paged(api, f"{rest}/field/{quote(field_id)}/context", "field contexts")
    options: list[str] = []
    for context in contexts:
        for option in _paged(api, f"{rest}/field/{quote(field_id)}/context/"
                                  f"{quote(str(context['id']))}/option", "field options"):
            if not option.get("disabled") and option.get("value") not in options:
                options.append(str(option.get("value")))
    return options


def _paged(api: ApiSession, path: str, what: str) -> list[dict]:
    """Every value of a Jira ``PageBean`` listing (``startAt``, until ``isLast``)."""
    values: list[dict] = []
    for _ in range(MAX_PAGES):
        page = _get(api, path, what, startAt=len(values), maxResults=100)
        values += page.get("values") or []
        if page.get("isLast", True) or not page.get("values"):
            break
    return values


# -- saying it without secrets --------------------------------------------------------------


def _credentials(section: ZendeskSettings | JiraSettings) -> str:
    if isinstance(section, ZendeskSettings):
        return "oauth_token" if section.oauth_token is not None else "email and api_token"
    return "email and api_token" if section.cloud else "pat"


def _shown(url: str) -> str:
    """``url`` without any user:password@ it was written with."""
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def _reason(exc: Exception) -> str:
    """The gist of a connection failure (``Connection refused``), not the whole exception."""
    cause = exc.__context__ or exc
    found = ERRNO.search(str(cause))
    if found:
        return found.group(1).strip()
    return "timed out" if "timed out" in str(cause).lower() else type(cause).__name__


def secrets_of(settings: Settings) -> list[str]:
    """The secret values of the helpdesk sections, so that no printed line holds one."""
    values = []
    for section in (settings.zendesk, settings.jira):
        for name in ("api_token", "oauth_token", "pat", "webhook_secret", "webhook_token"):
            secret = getattr(section, name, None)
            if secret is not None and secret.get_secret_value():
                values.append(secret.get_secret_value())
    return values
