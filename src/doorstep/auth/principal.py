from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Actor:
    """Who is acting, and for which account. Only the auth layer builds one from a credential;
    everything downstream scopes its queries by ``account_id``."""

    account_id: int
    token_id: int | None = None
    user_id: int | None = None
    # Agents see only the leads of their own offices; None means every office of the account.
    office_ids: frozenset[int] | None = field(default=None)
    # The account's name when the auth layer read it anyway (saves a look-up per new lead).
    account_name: str | None = None
    # The account's routing version when the auth layer read it anyway (offices.routing).
    routing_version: int | None = None
    # Who acts when there is neither a user nor a token: the timeline's name for them (the
    # person answering a questionnaire link). Without it the timeline says "the command line".
    label: str | None = None
