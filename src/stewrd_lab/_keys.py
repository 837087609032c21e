"""API key forms, and the one redaction rule used everywhere a key is shown."""

from __future__ import annotations

import re

__all__ = [
    "EMULATOR_KEY_PREFIX",
    "KEY_PATTERN",
    "KEY_PREFIX",
    "describe_key",
    "redact_key",
    "scrub_keys",
    "split_authorization",
]

KEY_PREFIX = "sk-stw_"

# Keys the emulator hands out carry this longer prefix, so that nothing (the
# target banner, a reader, a secret scanner) can mistake them for live keys.
EMULATOR_KEY_PREFIX = "sk-stw_emu_"

ELLIPSIS = "\N{HORIZONTAL ELLIPSIS}"

# Anything shaped like a Stewrd key, live or emulator.
KEY_PATTERN = re.compile(r"sk-stw_[A-Za-z0-9_\-]+")

# Below this many characters after the prefix, even the last four would give
# away too much of the key, so none of it is shown.
_MIN_SECRET_TO_HINT = 12


def redact_key(key: str | None) -> str:
    """Return ``key`` with everything but its prefix and last four hidden.

    ``sk-stw_0123456789abcdef`` becomes ``sk-stw_…cdef``; an emulator key keeps
    its ``sk-stw_emu_`` prefix. A value without the documented prefix keeps
    only its last four characters, and a short one keeps nothing.

    >>> redact_key("sk-stw_0123456789abcdef")
    'sk-stw_…cdef'
    >>> redact_key("hunter2")
    '…'
    """
    if not key:
        return ""

    prefix = ""
    for known in (EMULATOR_KEY_PREFIX, KEY_PREFIX):
        if key.startswith(known):
            prefix = known
            break

    secret = key[len(prefix) :]
    if len(secret) < _MIN_SECRET_TO_HINT:
        return prefix + ELLIPSIS
    return prefix + ELLIPSIS + secret[-4:]


def describe_key(key: str | None) -> str:
    """Say in words what is wrong with a key's form, or that it looks fine.

    The API answers one ``invalid_api_key`` for a missing, malformed, unknown
    and revoked key alike; the client can still tell the first two apart.
    """
    if not key:
        return "no API key was sent"
    if not key.startswith(KEY_PREFIX):
        return f"the key {redact_key(key)} does not start with {KEY_PREFIX}"
    if any(c.isspace() for c in key):
        return f"the key {redact_key(key)} contains whitespace"
    return (
        f"the key {redact_key(key)} is well-formed, so the project does not "
        "know it or it was revoked (regenerating a key revokes the old one)"
    )


def scrub_keys(text: str) -> str:
    """Return ``text`` with everything shaped like a key redacted.

    For text that comes from outside (a server's answer, a command line) and
    is about to be shown, logged or stored.
    """
    return KEY_PATTERN.sub(lambda match: redact_key(match.group()), text)


def split_authorization(header: str | None) -> tuple[str, str]:
    """Split an ``Authorization`` value into its scheme and credential.

    A value without a space is all credential (a key sent with no scheme), so
    that it is redacted as a key wherever it is shown.

    >>> split_authorization("Bearer sk-stw_abc")
    ('Bearer', 'sk-stw_abc')
    >>> split_authorization("sk-stw_abc")
    ('', 'sk-stw_abc')
    """
    scheme, _, credential = (header or "").strip().partition(" ")
    if not credential:
        return "", scheme
    return scheme, credential.strip()
