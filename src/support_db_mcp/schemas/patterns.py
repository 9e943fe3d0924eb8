"""The regular expressions our input schemas publish, and that the validators match with.

One expression serves both sides: JSON Schema validators (ECMA-262 in JavaScript, Python's `re`
in jsonschema) test the published `pattern`, and our validators `fullmatch` the same text, so a
client's validator and the server accept the same strings. Only syntax both engines read alike is
used: character classes, `(?:...)`, `(?!...)`, `{m,n}`, `^`/`$`, and `\\t \\r \\n \\u0000` escapes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# What may surround a value typed into a form (a text box keeps the newline of an Enter key):
# stripped by the validators, allowed around every published pattern.
BLANK = " \t\r\n"
_PAD = r"[ \t\r\n]*"
BLANK_ONLY = rf"^{_PAD}$"
NO_NUL = r"^[^\u0000]*$"  # PostgreSQL text cannot hold NUL
# Some character other than a blank, and no NUL anywhere: a title or description.
SOME_TEXT = r"^[^\u0000]*[^ \t\r\n\u0000][^\u0000]*$"

# An id as text: 1 to 10^18 - 1, so it always fits a PostgreSQL bigint; leading zeros allowed.
ID_DIGITS = r"0*[1-9][0-9]{0,17}"
_EMAIL_PART = r"[^@ \t\r\n\u0000]+"
EMAIL = rf"{_EMAIL_PART}@{_EMAIL_PART}[.]{_EMAIL_PART}"
TICKET_NUMBER_DIGITS = r"[0-9]{1,18}"

# A calendar date of years 0002 to 9998 (the extreme years could leave datetime's range once a
# zone is applied), valid in the Gregorian calendar, February 29 only in leap years.
_YEAR = r"(?!000[01]|9999)[0-9]{4}"
_MONTH_DAY = (
    r"(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
    r"|02-(?:0[1-9]|1[0-9]|2[0-8]))"
)
_LEAP_YEAR = r"(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)"
DATE = rf"(?:{_YEAR}-{_MONTH_DAY}|(?!0000){_LEAP_YEAR}-02-29)"
# HH:MM, optionally :SS and up to six decimals; then optionally Z or an offset of -23:59..+23:59.
TIME = r"(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:[.][0-9]{1,6})?)?"
ZONE = r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3])(?::?[0-5][0-9])?)"
TIMESTAMP = rf"{DATE}(?:[T ]{TIME}{ZONE}?)?"


def _group(pattern: str) -> str:
    return pattern if pattern.startswith("(?:") and _closes_at_end(pattern) else f"(?:{pattern})"


def _closes_at_end(pattern: str) -> bool:
    """Whether the group opened at the start of `pattern` is closed by its last character."""
    depth = 0
    escaped = in_class = False
    for position, char in enumerate(pattern):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return position == len(pattern) - 1
    return False


def padded(core: str) -> str:
    """The published form of `core`: anchored, blanks allowed around it."""
    return rf"^{_PAD}{_group(core)}{_PAD}$"


def one_of(choices: Iterable[str]) -> str:
    return "(?:" + "|".join(re.escape(choice) for choice in choices) + ")"


def listed(item: str, *, at_most: int | None = None) -> str:
    """One `item`, or several separated by commas (blanks around each allowed)."""
    more = "*" if at_most is None else f"{{0,{at_most - 1}}}"
    return f"{_group(item)}(?:{_PAD},{_PAD}{_group(item)}){more}"


def or_blank(pattern: str) -> str:
    """`pattern`, or nothing but blanks: what an optional text argument publishes, since a blank
    value means the same as leaving the argument out."""
    if pattern in (NO_NUL, BLANK_ONLY):
        return pattern
    return f"{BLANK_ONLY}|{pattern}"


def matcher(pattern: str) -> re.Pattern[str]:
    """The compiled published pattern; use `.fullmatch` (in Python `$` also matches before a
    final newline, which ECMA-262 does not)."""
    return re.compile(pattern)
