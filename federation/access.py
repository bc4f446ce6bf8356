"""Who may look at a run and who may decide: users, roles and their tokens.

The web console and the decision control endpoint share one :class:`Access`: a token names a
user, and the user's :class:`Role` says what they may do.  Tokens come from a users file
(``NAME ROLE TOKEN`` per line) or are made at start and printed once, like a notebook
server's.  Only SHA-256 digests of the tokens are kept in memory and handed to other
processes; a token itself is never logged or recorded.
"""

from __future__ import annotations

import enum
import getpass
import hashlib
import hmac
import json
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from .errors import FederationError

__all__ = ["Role", "User", "Access", "AccessError", "digest", "ENV_USERS"]

ENV_USERS = "FEDERATION_CONSOLE_USERS"  # digests -> users, JSON, for the console process


class AccessError(FederationError):
    """A users file that cannot be used (names the file and line)."""


class Role(str, enum.Enum):
    VIEWER = "viewer"  # sees everything, decides nothing
    OPERATOR = "operator"  # approves, edits and rejects proposals

    @property
    def may_decide(self) -> bool:
        return self is Role.OPERATOR


@dataclass(frozen=True)
class User:
    name: str
    role: Role

    def __str__(self) -> str:
        return f"{self.name} ({self.role.value})"


def digest(token: str) -> str:
    """The SHA-256 of a token, as kept instead of the token."""
    return hashlib.sha256(token.encode()).hexdigest()


class Access:
    """Users by the digest of their token; :meth:`user` checks a token in constant time."""

    def __init__(self, users: Mapping[str, User]) -> None:
        self._users = dict(users)  # digest -> user

    def __repr__(self) -> str:
        return f"<Access {', '.join(str(u) for u in self._users.values())}>"

    def __len__(self) -> int:
        return len(self._users)

    def user(self, token: object) -> User | None:
        """The user whose token this is, or None (also for anything that is not a string)."""
        if not isinstance(token, str) or not token:
            return None
        wanted = digest(token)
        found = None
        for key, user in self._users.items():  # every entry is compared: no early exit to time
            if hmac.compare_digest(key, wanted):
                found = user
        return found

    @classmethod
    def generate(cls, operator: str | None = None) -> tuple[Access, dict[str, str]]:
        """Fresh tokens for an operator (the login name by default) and a viewer: (access, name -> token)."""
        name = operator or _login()
        tokens = {name: secrets.token_urlsafe(24), "viewer": secrets.token_urlsafe(24)}
        roles = {name: Role.OPERATOR, "viewer": Role.VIEWER}
        return cls({digest(t): User(n, roles[n]) for n, t in tokens.items()}), tokens

    @classmethod
    def from_file(cls, path: Path) -> Access:
        """Read ``NAME ROLE TOKEN`` lines (``#`` starts a comment); every problem names the line."""
        try:
            text = path.read_text()
            mode = path.stat().st_mode
        except OSError as exc:
            raise AccessError(f"{path}: cannot read the users file: {exc.strerror}") from exc
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise AccessError(f"{path}: the users file holds tokens and must be readable by its owner only "
                              f"(chmod 600 {path})")  # fmt: skip
        users: dict[str, User] = {}
        names: set[str] = set()
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            if len(parts) != 3:
                raise AccessError(f"{path}:{number}: expected NAME ROLE TOKEN, got {len(parts)} field(s)")
            name, role_text, token = parts
            try:
                role = Role(role_text)
            except ValueError:
                raise AccessError(f"{path}:{number}: role must be viewer or operator, got {role_text!r}") from None
            if len(token) < 16:
                raise AccessError(f"{path}:{number}: the token of {name!r} is too short (16 characters at least)")
            if name in names or digest(token) in users:
                raise AccessError(f"{path}:{number}: {'user ' + repr(name) if name in names else 'token'} given twice")
            names.add(name)
            users[digest(token)] = User(name, role)
        if not users:
            raise AccessError(f"{path}: no users (lines of NAME ROLE TOKEN)")
        return cls(users)

    def to_json(self) -> str:
        """Digests and users, for another process (:meth:`from_json`); holds no token."""
        return json.dumps({key: [u.name, u.role.value] for key, u in self._users.items()})

    @classmethod
    def from_json(cls, text: str) -> Access:
        data = json.loads(text)
        return cls({key: User(str(name), Role(role)) for key, (name, role) in data.items()})


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "operator"
