"""Who may sign in to the dashboards: the users file in the data dir (never in the repository).

Each user has a role and, for a manager, the clinics they may see. Passwords are stored only as
bcrypt hashes (the format streamlit-authenticator checks). The file and the cookie key are
written private to the service's user (0600, in a 0700 folder) whatever the umask, and replaced
atomically, so a dashboard never reads half a file.
"""

from __future__ import annotations

import os
import re
import secrets
import string
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import bcrypt
import yaml

MANAGER, ANALYST, ADMIN = "manager", "analyst", "admin"
ROLES = (MANAGER, ANALYST, ADMIN)
# streamlit-authenticator lower-cases the name typed at sign-in, so names are lower case.
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,39}$")
SHORTEST_PASSWORD = 10
DEMO_PREFIX = "demo-"
HEADER = "# Dashboard users: managed by `toning users`. Passwords are bcrypt hashes.\n"


class UsersError(Exception):
    """A user cannot be added, removed or read; the message says why and what to do."""


@dataclass(frozen=True)
class User:
    name: str
    role: str
    clinics: tuple[str, ...] = ()
    password_hash: str = field(default="", repr=False)

    @property
    def clinic_scope(self) -> tuple[str, ...] | None:
        """The clinics this user may see; None means every clinic (analysts and admins)."""
        return self.clinics if self.role == MANAGER else None

    def password_matches(self, password: str) -> bool:
        return bool(self.password_hash) and bcrypt.checkpw(
            password.encode(), self.password_hash.encode()
        )


def load(path: Path) -> dict[str, User]:
    """Every user in the file by name; no file means no users yet."""
    if not path.exists():
        return {}
    try:
        document = yaml.safe_load(path.read_text()) or {}
        return {
            name: User(
                name=name,
                role=entry["role"],
                clinics=tuple(entry.get("clinics") or ()),
                password_hash=entry["password_hash"],
            )
            for name, entry in (document.get("users") or {}).items()
        }
    except (yaml.YAMLError, KeyError, TypeError, AttributeError) as error:
        raise UsersError(
            f"{path} is not a users file `toning users` wrote ({type(error).__name__}): "
            "restore it from backup or remove it and add the users again"
        ) from None


def add(
    path: Path, name: str, role: str, clinics: tuple[str, ...], password: str, replace: bool = False
) -> User:
    """Adds a user (or, with `replace`, changes one's role, clinics and password)."""
    if not NAME_PATTERN.match(name):
        raise UsersError(
            f"{name!r} cannot be a user name: use 1-40 lower-case letters, digits, '.', '_' or "
            "'-', starting with a letter or digit"
        )
    if role not in ROLES:
        raise UsersError(f"{role!r} is not a role: use one of {', '.join(ROLES)}")
    if role == MANAGER and not clinics:
        raise UsersError("a manager sees only their clinics: name them with --clinics C01,C02")
    if role != MANAGER and clinics:
        raise UsersError(f"an {role} sees every clinic: leave out --clinics")
    if len(password) < SHORTEST_PASSWORD:
        raise UsersError(f"the password is too short: use at least {SHORTEST_PASSWORD} characters")
    users = load(path)
    if name in users and not replace:
        raise UsersError(f"{name} already exists: add --replace to change their role or password")
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()
    users[name] = User(name, role, tuple(dict.fromkeys(clinics)), hashed)
    _save(path, users)
    return users[name]


def remove(path: Path, name: str) -> None:
    users = load(path)
    if name not in users:
        raise UsersError(f"there is no user {name!r} (`toning users list` shows who there is)")
    del users[name]
    _save(path, users)


def add_demo_users(path: Path, clinic: str) -> dict[str, str]:
    """A manager of `clinic`, an analyst and an admin, each with a fresh random password (which
    is returned, to be shown once). A users file holding anyone else is a deployment's own:
    it is refused, never added to."""
    others = [name for name in load(path) if not name.startswith(DEMO_PREFIX)]
    if others:
        raise UsersError(
            f"{path} already has users of its own ({', '.join(others)}): demo accounts are only "
            "for demo data"
        )
    passwords = {}
    for role in ROLES:
        name, password = f"{DEMO_PREFIX}{role}", new_password()
        add(path, name, role, (clinic,) if role == MANAGER else (), password, replace=True)
        passwords[name] = password
    return passwords


def new_password() -> str:
    """A random password for a generated account (the demo's): 16 letters and digits."""
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(16))


def cookie_key(path: Path) -> str:
    """The secret signing the dashboards' sign-in cookie, created on first use."""
    if not path.exists():
        write_private(path, secrets.token_hex(32))
    return path.read_text().strip()


def write_private(path: Path, text: str) -> None:
    """Writes `text` to `path` readable by this user only (0600 in a 0700 folder), atomically."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w") as handle:  # mkstemp creates it 0600
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _save(path: Path, users: dict[str, User]) -> None:
    document = {
        "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "users": {
            user.name: {
                "role": user.role,
                "clinics": list(user.clinics),
                "password_hash": user.password_hash,
            }
            for user in sorted(users.values(), key=lambda user: user.name)
        },
    }
    write_private(path, HEADER + yaml.safe_dump(document, sort_keys=False))
