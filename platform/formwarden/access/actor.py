"""Who is acting: a user through a session, a user through an API token, or a system job."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Actor:
    kind: str  # "user" | "token" | "system"
    user_id: int | None
    name: str
    roles: frozenset[str] = frozenset()
    team_ids: frozenset[int] = frozenset()
    token_id: int | None = None
    token_scopes: frozenset[str] | None = None  # None: not a token, no extra limit
    perms: frozenset | None = None  # the roles' platform permissions (None: looked up from `roles`)
    token_fields: frozenset[str] | None = None  # "form.field" a token is narrowed to (None: no limit)
    username: str = ""  # the account's username (name may add the token)
    locale: str = "en"
    time_zone: str = ""  # the account's own ("" = the instance's)
    ip: str = ""
    user_agent: str = ""
    request_id: str = ""
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def system(cls, job_name: str) -> Actor:
        return cls(kind="system", user_id=None, name=f"job:{job_name}")

    @property
    def is_system(self) -> bool:
        return self.kind == "system"

    def origin(self) -> dict:
        """What a job needs to act exactly as the request that started it: the token (its
        scopes narrow the job too), the IP and the user agent. Ids and request metadata only."""
        return {"token": self.token_id, "ip": self.ip, "user_agent": self.user_agent}
