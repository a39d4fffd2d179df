"""Danish personal ID numbers (CPR-nummer): parsing, validation and synthetic generation.

A CPR number is ``DDMMYY-SSSS``. The 7th digit together with the two-digit year gives the
century (see :func:`century_year`); the last digit is odd for men and even for women. Since 2007
not every number passes the modulus-11 check, so it is never required here.

An *erstatningspersonnummer* (replacement ID, for people without a CPR number) looks like a CPR
number but carries day + 60 (61-91), so it is never a valid date.

No function here puts a CPR number into an exception message.
"""

from __future__ import annotations

import datetime as _dt
import re

import numpy as np

__all__ = [
    "normalise",
    "redact_cpr",
    "century_year",
    "birth_date",
    "sex",
    "is_valid",
    "is_replacement",
    "format_dashed",
    "make_cpr",
    "make_replacement",
    "allowed_digit7",
    "make_cpr_array",
    "CprAllocator",
]

_STRIP_RE = re.compile(r"[\s\-]")


def normalise(value: object) -> str | None:
    """Return the 10-digit form of ``value`` or ``None``.

    Accepts ``str`` and ``int``. Dashes and whitespace are removed. A 9-digit value is a
    10-digit number whose leading zero was lost (stored as a number once) and is zero-padded.
    Anything that is not 9 or 10 digits afterwards gives ``None``.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, np.integer)):
        if value < 0:
            return None
        text = str(int(value))
    elif isinstance(value, str):
        text = _STRIP_RE.sub("", value)
    else:
        return None
    if not text.isascii() or not text.isdigit():
        return None
    if len(text) == 9:
        text = "0" + text
    if len(text) != 10:
        return None
    return text


# A CPR number as people write, paste or put in URLs: ten digits, optionally split after the day, the month and the
# year by up to three separators each (dots, dashes of any kind, slashes, underscores, whitespace, or the URL
# encoding of one, like %20 or %2D); nine digits (a leading zero lost); and any longer run of digits.
_SEPARATOR = r"(?:[\s./_\-\u2010-\u2015\u2212]|%[0-9A-Fa-f]{2})"
_CPR_ANYWHERE_RE = re.compile(
    rf"(?<![0-9])(?:[0-9]{{9,}}|[0-9]{{1,2}}{_SEPARATOR}{{0,3}}[0-9]{{2}}{_SEPARATOR}{{0,3}}[0-9]{{2}}"
    rf"{_SEPARATOR}{{0,3}}[0-9]{{4}})(?![0-9])")
REDACTED = "[fjernet]"


def redact_cpr(text: str) -> str:
    """``text`` with everything that could be a CPR number, in any spelling, replaced by ``[fjernet]``.

    For what the app logs or stores as free text (request paths, notes, messages). It errs on the side of
    removing: a phone number or an account number written like a CPR number is removed too."""
    return _CPR_ANYWHERE_RE.sub(REDACTED, text)


def century_year(yy: int, digit7: int) -> int:
    """Four-digit birth year from the two-digit year and the 7th digit.

    digits 0-3: 1900s; 4 and 9: 2000s for years 00-36, else 1900s;
    5-8: 2000s for years 00-57, 1800s for 58-99.
    """
    yy = int(yy)
    digit7 = int(digit7)
    if not 0 <= yy <= 99 or not 0 <= digit7 <= 9:
        raise ValueError("year must be 0-99 and the 7th digit 0-9")
    if digit7 <= 3:
        return 1900 + yy
    if digit7 in (4, 9):
        return 2000 + yy if yy <= 36 else 1900 + yy
    return 2000 + yy if yy <= 57 else 1800 + yy


def _parts(cpr: object) -> tuple[int, int, int, int, str] | None:
    text = normalise(cpr)
    if text is None:
        return None
    return int(text[0:2]), int(text[2:4]), int(text[4:6]), int(text[6]), text


def birth_date(cpr: object) -> _dt.date | None:
    """Birth date encoded in ``cpr``, or ``None`` when it is not a real date (or not a CPR)."""
    parts = _parts(cpr)
    if parts is None:
        return None
    dd, mm, yy, d7, _ = parts
    try:
        return _dt.date(century_year(yy, d7), mm, dd)
    except ValueError:
        return None


def sex(cpr: object) -> str:
    """``'M'`` (odd last digit) or ``'K'`` (even last digit)."""
    text = normalise(cpr)
    if text is None:
        raise ValueError("not a CPR number (expected 9 or 10 digits)")
    return "M" if int(text[9]) % 2 == 1 else "K"


def is_valid(cpr: object) -> bool:
    """10 digits (after normalising) encoding a real birth date. Modulus 11 is not required."""
    return birth_date(cpr) is not None


def is_replacement(cpr: object) -> bool:
    """True for an erstatningspersonnummer: CPR-shaped, day 61-91 (day + 60), month 1-12."""
    parts = _parts(cpr)
    if parts is None:
        return False
    dd, mm, yy, d7, _ = parts
    if not 61 <= dd <= 91 or not 1 <= mm <= 12:
        return False
    try:
        _dt.date(century_year(yy, d7), mm, dd - 60)
    except ValueError:
        return False
    return True


def format_dashed(cpr: object) -> str:
    """``DDMMYY-SSSS``."""
    text = normalise(cpr)
    if text is None:
        raise ValueError("not a CPR number (expected 9 or 10 digits)")
    return f"{text[:6]}-{text[6:]}"


# --------------------------------------------------------------------------- generation


def allowed_digit7(year: int) -> tuple[int, ...]:
    """7th digits that encode ``year`` (1858-2057)."""
    yy = year % 100
    century = year - yy
    out = tuple(d for d in range(10) if century_year(yy, d) == century + yy)
    if not out:
        raise ValueError("year outside the CPR range 1858-2057")
    return out


# Lookup table: for every year 1858..2057 the allowed 7th digits as a boolean mask (200 x 10).
_YEAR0 = 1858
_D7_MASK = np.zeros((200, 10), dtype=bool)
for _y in range(_YEAR0, _YEAR0 + 200):
    for _d in allowed_digit7(_y):
        _D7_MASK[_y - _YEAR0, _d] = True


def _is_male(value: object) -> bool:
    if isinstance(value, str):
        if value not in ("M", "K"):
            raise ValueError("sex must be 'M' or 'K'")
        return value == "M"
    return bool(value)


def make_cpr(born: _dt.date, sex_: object, rng: np.random.Generator, replacement: bool = False) -> str:
    """One valid CPR number (10 digits) for birth date ``born`` and sex ``'M'``/``'K'``.

    With ``replacement=True`` an erstatningspersonnummer (day + 60) is made instead.
    Uniqueness is the caller's concern; use :func:`make_cpr_array` / :class:`CprAllocator` for many.
    """
    digits = allowed_digit7(born.year)
    d7 = int(digits[int(rng.integers(len(digits)))])
    serial = int(rng.integers(500)) * 2 + (1 if _is_male(sex_) else 0)
    day = born.day + (60 if replacement else 0)
    return f"{day:02d}{born.month:02d}{born.year % 100:02d}{d7}{serial:03d}"


def _draw_codes(days: np.ndarray, months: np.ndarray, years: np.ndarray, male: np.ndarray,
                rng: np.random.Generator) -> np.ndarray:
    """Random CPR numbers as int64 (DDMMYYDSSS) for the given parts."""
    n = len(days)
    mask = _D7_MASK[years - _YEAR0]                      # n x 10
    counts = mask.sum(axis=1)
    pick = (rng.random(n) * counts).astype(np.int64)    # index among allowed digits
    order = np.cumsum(mask, axis=1) - 1                  # rank of each allowed digit
    d7 = np.argmax(mask & (order == pick[:, None]), axis=1).astype(np.int64)
    serial = rng.integers(0, 500, n, dtype=np.int64) * 2 + male.astype(np.int64)
    return (((days * 100 + months) * 100 + years % 100) * 10 + d7) * 1000 + serial


def make_cpr_array(birth_dates: np.ndarray, male: np.ndarray, rng: np.random.Generator,
                   used: CprAllocator | None = None, replacement: bool = False) -> np.ndarray:
    """Vectorised :func:`make_cpr`: unique 10-digit CPR strings (numpy ``<U10``).

    ``birth_dates`` is ``datetime64[D]`` (or convertible), ``male`` boolean. Numbers are unique
    within the call and, when ``used`` is given, against every number that allocator handed out
    before (it is updated).
    """
    bd = np.asarray(birth_dates, dtype="datetime64[D]")
    male = np.asarray(male, dtype=bool)
    n = len(bd)
    if n == 0:
        return np.array([], dtype="<U10")
    years = bd.astype("datetime64[Y]").astype(np.int64) + 1970
    months = (bd.astype("datetime64[M]").astype(np.int64) % 12) + 1
    days = (bd - bd.astype("datetime64[M]")).astype(np.int64) + 1
    if years.min() < _YEAR0 or years.max() >= _YEAR0 + 200:
        raise ValueError("birth year outside the CPR range 1858-2057")
    if replacement:
        days = days + 60
    codes = _draw_codes(days, months, years, male, rng)
    taken = used._sorted if used is not None else np.array([], dtype=np.int64)
    for _ in range(100):
        bad = _duplicates(codes) | _in_sorted(codes, taken)
        if not bad.any():
            break
        idx = np.flatnonzero(bad)
        codes[idx] = _draw_codes(days[idx], months[idx], years[idx], male[idx], rng)
    else:  # pragma: no cover - needs > 2000 people per birth date and sex
        raise RuntimeError("could not find unique CPR numbers (too many people per birth date)")
    if used is not None:
        used.add(codes)
    return np.char.zfill(codes.astype("<U10"), 10)


def _duplicates(codes: np.ndarray) -> np.ndarray:
    """True for every occurrence of a value after its first occurrence."""
    order = np.argsort(codes, kind="stable")
    s = codes[order]
    dup_sorted = np.zeros(len(s), dtype=bool)
    dup_sorted[1:] = s[1:] == s[:-1]
    out = np.zeros(len(s), dtype=bool)
    out[order] = dup_sorted
    return out


def _in_sorted(codes: np.ndarray, sorted_taken: np.ndarray) -> np.ndarray:
    if len(sorted_taken) == 0:
        return np.zeros(len(codes), dtype=bool)
    pos = np.searchsorted(sorted_taken, codes)
    pos = np.minimum(pos, len(sorted_taken) - 1)
    return sorted_taken[pos] == codes


class CprAllocator:
    """Remembers numbers already handed out so that chunks of a population stay unique."""

    def __init__(self) -> None:
        self._sorted = np.array([], dtype=np.int64)

    def add(self, codes: np.ndarray) -> None:
        self._sorted = np.union1d(self._sorted, np.asarray(codes, dtype=np.int64))

    def __len__(self) -> int:
        return len(self._sorted)


def make_replacement(born: _dt.date, sex_: object, rng: np.random.Generator) -> str:
    """One erstatningspersonnummer (day + 60) for ``born`` and sex."""
    return make_cpr(born, sex_, rng, replacement=True)
