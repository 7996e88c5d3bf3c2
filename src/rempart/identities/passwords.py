"""Password hashing (Argon2id through argon2-cffi) and the password policy.

The policy follows CNIL délibération 2022-100 and ANSSI's 2021 guide: length over complexity, no forced
periodic change. Logins are throttled (:mod:`rempart.identities.throttle`), so CNIL's bar for a password
with attempt restrictions is met by 12 characters of three classes, or a long passphrase; administrators
(who create and reset accounts) need 16, as ANSSI's MonServiceSécurisé asks.
"""

from __future__ import annotations

import re
import string

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from rempart.errors import StateError

MIN_LENGTH = 12
MIN_LENGTH_ADMIN = 16
PASSPHRASE_LENGTH = 20  # a passphrase of four or five words: any characters will do
MIN_CLASSES = 3

# argon2-cffi's defaults (Argon2id, t=3, 64 MiB, p=4); tests swap in a cheap profile with use_hasher()
_hasher = PasswordHasher()

# bases that cracking lists try first, in French and English hospitals alike
COMMON = frozenset(
    """password motdepasse azerty qwerty qwertz abc123 123456 1234567890 admin administrateur
    root bonjour soleil loulou doudou chouchou marseille toulouse paris france hopital clinique
    sante santé patient infirmier infirmiere medecin docteur welcome letmein iloveyou sunshine
    monkey dragon football changeme rempart secret master""".split()  # noqa: SIM905
)


def use_hasher(hasher: PasswordHasher) -> PasswordHasher:
    """Replace the hasher (tests only: a cheap profile); returns the previous one."""
    global _hasher
    before, _hasher = _hasher, hasher
    return before


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """Whether a hash was made with weaker parameters than today's (rehashed at the next login)."""
    try:
        return _hasher.check_needs_rehash(stored)
    except InvalidHashError:
        return True


def dummy_verify(password: str) -> None:
    """Spend the time of one verification, so an unknown account answers as slowly as a known one."""
    verify_password(_DUMMY, password)


_DUMMY = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("rempart-dummy")


def _classes(password: str) -> int:
    return sum(
        any(c in cls for c in password)
        for cls in (string.ascii_lowercase, string.ascii_uppercase, string.digits)
    ) + any(not c.isalnum() for c in password)


def problems(password: str, *, admin: bool = False, names: tuple[str, ...] = ()) -> list[str]:
    """Why ``password`` is refused (empty: accepted). ``names``: the account's own names, refused inside."""
    found: list[str] = []
    minimum = MIN_LENGTH_ADMIN if admin else MIN_LENGTH
    if len(password) < PASSPHRASE_LENGTH:
        if len(password) < minimum:
            found.append(f"at least {minimum} characters (or a passphrase of {PASSPHRASE_LENGTH} or more)")
        elif _classes(password) < MIN_CLASSES:
            found.append(
                f"at least {MIN_CLASSES} kinds of characters among lower case, upper case, digits and "
                f"symbols (or a passphrase of {PASSPHRASE_LENGTH} characters or more)"
            )
    if len(set(password.lower())) < 6:
        found.append("more different characters (a repeated pattern is guessed at once)")
    core = re.sub(r"[^a-zà-ÿ]", "", password.lower())
    if core in COMMON or password.lower() in COMMON:
        found.append("not a common password or a common word with digits and symbols around it")
    for name in names:
        for part in re.split(r"[^a-z0-9à-ÿ]+", name.lower()):
            if len(part) >= 4 and part in password.lower():
                found.append(f"not the account's own name ('{part}')")
                break
    return found


def check(password: str, *, admin: bool = False, names: tuple[str, ...] = ()) -> None:
    found = problems(password, admin=admin, names=names)
    if found:
        raise StateError("password refused: it needs " + "; ".join(found), hint="no periodic change is asked")
