"""Small vectorised helpers shared by the generator modules (dates, choices, ids, staff)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from samlet_overblik.synthetic import vocab

DAY = np.timedelta64(1, "D")
NAT_D = np.datetime64("NaT", "D")
NAT_S = np.datetime64("NaT", "s")


def uniform_days(rng: np.random.Generator, lo: npt.ArrayLike, hi: npt.ArrayLike) -> np.ndarray:
    """Random dates in [lo, hi] (datetime64[D] arrays or scalars; hi < lo gives lo)."""
    lo = np.asarray(lo, dtype="datetime64[D]")
    hi = np.asarray(hi, dtype="datetime64[D]")
    span = np.maximum((hi - lo).astype(np.int64), 0)
    n = np.broadcast(lo, hi).size
    off = np.floor(rng.random(n) * (span + 1)).astype(np.int64)
    return lo + off.astype("timedelta64[D]")


def stamp_after(rng: np.random.Generator, day: np.ndarray, now: np.datetime64) -> np.ndarray:
    """A timestamp (datetime64[s]) on or after ``day`` and not after ``now``; NaT days give NaT."""
    day = np.asarray(day, dtype="datetime64[D]")
    start = day.astype("datetime64[s]") + np.timedelta64(7 * 3600, "s")
    span = np.maximum((now - start).astype(np.int64), 0)
    off = np.floor(rng.random(day.size) * (span + 1)).astype(np.int64)
    out = start + off.astype("timedelta64[s]")
    return np.where(np.isnat(day), NAT_S, np.minimum(out, now))


def iso_date(arr: np.ndarray) -> np.ndarray:
    """datetime64 -> object array of 'YYYY-MM-DD' strings, NaT -> None."""
    arr = np.asarray(arr, dtype="datetime64[D]")
    out = np.datetime_as_string(arr, unit="D").astype(object)
    out[np.isnat(arr)] = None
    return out


def iso_timestamp(arr: np.ndarray, sep: str = " ") -> np.ndarray:
    """datetime64 -> object array of 'YYYY-MM-DD HH:MM:SS' (or with 'T'), NaT -> None."""
    arr = np.asarray(arr, dtype="datetime64[s]")
    out = np.datetime_as_string(arr, unit="s").astype(object)
    if sep != "T":
        out = np.array([s.replace("T", sep) for s in out], dtype=object) if len(out) else out
    out[np.isnat(arr)] = None
    return out


def weighted_choice(rng: np.random.Generator, n: int, weights) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    return rng.choice(len(w), size=n, p=w / w.sum())


def money(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    lo = np.asarray(lo, dtype=float)
    hi = np.asarray(hi, dtype=float)
    return np.round(lo + rng.random(np.broadcast(lo, hi).size) * (hi - lo), 2)


def obj(values) -> np.ndarray:
    """An object array (so that + concatenates Python strings element-wise)."""
    return np.asarray(values, dtype=object)


def add_years(days: np.ndarray, years: int) -> np.ndarray:
    """Exact anniversary (29 February -> 1 March)."""
    days = np.asarray(days, dtype="datetime64[D]")
    y = days.astype("datetime64[Y]")
    m = days.astype("datetime64[M]")
    month_of_year = (m - y.astype("datetime64[M]")).astype(np.int64)
    day_of_month = (days - m.astype("datetime64[D]")).astype(np.int64)
    target = (y + np.timedelta64(years, "Y")).astype("datetime64[M]") + month_of_year.astype("timedelta64[M]")
    return target.astype("datetime64[D]") + day_of_month.astype("timedelta64[D]")


def age_in_years(birth: np.ndarray, on: np.datetime64) -> np.ndarray:
    """Completed years on date ``on`` (compares month and day, so leap years do not shift it)."""
    birth = np.asarray(birth, dtype="datetime64[D]")
    on_d = np.datetime64(on, "D")  # type: ignore[call-overload]  # numpy stubs lack datetime64(datetime64, unit)
    years = (on_d.astype("datetime64[Y]") - birth.astype("datetime64[Y]")).astype(np.int64)
    bm = (birth.astype("datetime64[M]") - birth.astype("datetime64[Y]").astype("datetime64[M]")).astype(np.int64)
    bd = (birth - birth.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64)
    om = int((on_d.astype("datetime64[M]") - on_d.astype("datetime64[Y]").astype("datetime64[M]")).astype(np.int64))
    od = int((on_d - on_d.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64))
    not_yet = (bm > om) | ((bm == om) & (bd > od))
    return years - not_yet.astype(np.int64)


class Counters:
    """Sequential ids per key; chunk after chunk, so ids are deterministic and unique."""

    def __init__(self) -> None:
        self._next: dict[str, int] = {}

    def take(self, key: str, n: int) -> np.ndarray:
        start = self._next.get(key, 1)
        self._next[key] = start + int(n)
        return np.arange(start, start + int(n), dtype=np.int64)


def person_names(rng: np.random.Generator, male: np.ndarray, middle_share: float = 0.2) -> np.ndarray:
    n = len(male)
    male = np.asarray(male, dtype=bool)
    first = np.where(male,
                     vocab.FIRST_NAMES_MALE[rng.integers(0, len(vocab.FIRST_NAMES_MALE), n)],
                     vocab.FIRST_NAMES_FEMALE[rng.integers(0, len(vocab.FIRST_NAMES_FEMALE), n)])
    middle = np.where(male,
                      vocab.FIRST_NAMES_MALE[rng.integers(0, len(vocab.FIRST_NAMES_MALE), n)],
                      vocab.FIRST_NAMES_FEMALE[rng.integers(0, len(vocab.FIRST_NAMES_FEMALE), n)])
    has_middle = (rng.random(n) < middle_share) & (middle != first)
    return np.where(has_middle, obj(first) + " " + obj(middle), obj(first))


def last_names(rng: np.random.Generator, n: int) -> np.ndarray:
    return vocab.LAST_NAMES[rng.choice(len(vocab.LAST_NAMES), size=n, p=vocab.LAST_NAME_WEIGHTS)]


def make_staff(rng: np.random.Generator, n: int) -> np.ndarray:
    male = rng.random(n) < 0.3
    first = np.where(male,
                     vocab.FIRST_NAMES_MALE[rng.integers(0, len(vocab.FIRST_NAMES_MALE), n)],
                     vocab.FIRST_NAMES_FEMALE[rng.integers(0, len(vocab.FIRST_NAMES_FEMALE), n)])
    return obj(first) + " " + obj(last_names(rng, n))
