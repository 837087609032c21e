from __future__ import annotations

import pytest

from stewrd_lab import EMULATOR_KEY_PREFIX, KEY_PREFIX, redact_key
from stewrd_lab._keys import describe_key, split_authorization


@pytest.mark.parametrize(
    ("key", "shown"),
    [
        (KEY_PREFIX + "0123456789abcdef", "sk-stw_…cdef"),
        (EMULATOR_KEY_PREFIX + "0011223344556677" * 2, "sk-stw_emu_…6677"),
        (KEY_PREFIX + "short", "sk-stw_…"),
        ("my-stewrd-key-0123456789", "…6789"),
        ("hunter2", "…"),
        ("", ""),
        (None, ""),
    ],
)
def test_redact_key__keeps_only_prefix_and_last_four(
    key: str | None, shown: str
) -> None:
    assert redact_key(key) == shown


@pytest.mark.parametrize(
    ("key", "described"),
    [
        (None, "no API key was sent"),
        ("", "no API key was sent"),
        ("my-stewrd-key-0123456789", "the key …6789 does not start with sk-stw_"),
        (KEY_PREFIX + "abc def 012345", "the key sk-stw_…2345 contains whitespace"),
        (
            KEY_PREFIX + "0123456789abcdef",
            "the key sk-stw_…cdef is well-formed, so the project does not know "
            "it or it was revoked (regenerating a key revokes the old one)",
        ),
    ],
)
def test_describe_key__says_what_the_client_can_tell(
    key: str | None, described: str
) -> None:
    assert describe_key(key) == described


@pytest.mark.parametrize(
    ("header", "parts"),
    [
        ("Bearer abc", ("Bearer", "abc")),
        ("  Basic   abc  ", ("Basic", "abc")),
        ("abc", ("", "abc")),
        ("", ("", "")),
        (None, ("", "")),
    ],
)
def test_split_authorization__a_bare_value_is_all_credential(
    header: str | None, parts: tuple[str, str]
) -> None:
    assert split_authorization(header) == parts
