"""The rate budget shared by the workers of one helpdesk account, kept in the store.

:class:`connector.http.RateBudget` paces requests by the account's rate-limit windows. Given
:class:`StoreWindows`, it books its requests from the ``rate_windows`` rows of its account, the
rows every worker of that account books from (threads of one process, ``tierlift worker``
processes, other machines on the same PostgreSQL), so that together they keep to the spread one
process alone would keep to.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit

from connector.http import RateBudget, Window
from connector.telemetry import ApiTelemetry
from webhook_app.store import Store

T = TypeVar("T")


def account_key(platform: str, base_url: str) -> str:
    """The helpdesk account a base URL belongs to: ``platform:host`` (and ``:port`` if any)."""
    parts = urlsplit(base_url)
    host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    return f"{platform}:{host}"


class StoreWindows:
    """The windows of one account in the store (:class:`connector.http.SharedWindows`)."""

    def __init__(self, store: Store, account: str) -> None:
        self.store, self.account = store, account

    def transact(self, change: Callable[[dict[str, Window], float], T]) -> T:
        return self.store.with_rate_windows(self.account, change)


def shared_budget(store: Store, platform: str, base_url: str,
                  telemetry: ApiTelemetry) -> RateBudget:
    """A rate budget shared through ``store`` by every worker of the account at ``base_url``."""
    return RateBudget(shared=StoreWindows(store, account_key(platform, base_url)),
                      telemetry=telemetry)
