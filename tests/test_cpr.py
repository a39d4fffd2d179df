import datetime as dt

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from samlet_overblik.core import cpr


@pytest.mark.parametrize(
    ("yy", "digit7", "year"),
    [
        (85, 0, 1985), (5, 3, 1905), (99, 2, 1999),                      # 0-3: 1900s
        (36, 4, 2036), (37, 4, 1937), (0, 9, 2000), (99, 9, 1999),     # 4, 9: 2000s for 00-36
        (57, 5, 2057), (58, 5, 1858), (10, 8, 2010), (99, 6, 1899),    # 5-8: 2000s for 00-57, else 1800s
    ],
)
def test_century_year(yy, digit7, year):
    assert cpr.century_year(yy, digit7) == year


def test_century_year_rejects_out_of_range():
    with pytest.raises(ValueError):
        cpr.century_year(100, 1)


def test_normalise_dashes_spaces_and_lost_zero():
    assert cpr.normalise("010203-1234") == "0102031234"
    assert cpr.normalise(" 010203 1234 ") == "0102031234"
    assert cpr.normalise("102031234") == "0102031234"          # leading zero lost
    assert cpr.normalise(102031234) == "0102031234"            # stored as a number
    assert cpr.normalise(2102031234) == "2102031234"
    for bad in (None, "", "12345", "01020312345", "abcdefghij", "0102O31234", -102031234, 1.5, True):
        assert cpr.normalise(bad) is None


def test_birth_date_sex_and_format():
    assert cpr.birth_date("010203-1234") == dt.date(1903, 2, 1)
    assert cpr.birth_date("1102154321") == dt.date(2015, 2, 11)
    assert cpr.birth_date("1102644321") == dt.date(1964, 2, 11)
    assert cpr.sex("0102031233") == "M"
    assert cpr.sex("0102031234") == "K"
    assert cpr.format_dashed("102031234") == "010203-1234"


def test_invalid_dates_and_no_modulus_11():
    assert not cpr.is_valid("3102851234")     # 31 February
    assert not cpr.is_valid("2902011234")     # 1901 is not a leap year
    assert not cpr.is_valid("2902001234")     # digit 1, yy 00 -> 1900, not a leap year
    assert cpr.is_valid("2902004234")         # digit 4, yy 00 -> 2000, a leap year
    assert cpr.is_valid("2902044234")         # 2004 is a leap year (digit 4, yy 04)
    # numbers failing the modulus-11 check are still valid CPR numbers
    def mod11(number):
        return sum(int(c) * w for c, w in zip(number, (4, 3, 2, 7, 6, 5, 4, 3, 2, 1))) % 11 == 0

    failing = [f"070761428{d}" for d in range(10) if not mod11(f"070761428{d}")]
    assert failing
    assert all(cpr.is_valid(n) for n in failing)


def test_replacement_numbers():
    assert cpr.is_replacement("6101851234")   # day 1 + 60
    assert cpr.is_replacement("910385-1234")  # day 31 + 60
    assert not cpr.is_valid("6101851234")
    assert cpr.birth_date("6101851234") is None
    assert not cpr.is_replacement("0101851234")
    assert not cpr.is_replacement("9202851234")   # day 32 + 60
    assert not cpr.is_replacement("8902851234")   # 29 February 1985 + 60 is no date


def test_errors_never_contain_the_number():
    with pytest.raises(ValueError) as exc:
        cpr.format_dashed("12345")
    assert "12345" not in str(exc.value)
    with pytest.raises(ValueError) as exc:
        cpr.sex("0102X31234")
    assert "0102X31234" not in str(exc.value)


def test_vectorised_unique_and_valid():
    rng = np.random.default_rng(1)
    born = np.full(3000, np.datetime64("1980-05-05"))   # many people on one day
    male = rng.random(3000) < 0.5
    alloc = cpr.CprAllocator()
    a = cpr.make_cpr_array(born, male, rng, alloc)
    b = cpr.make_cpr_array(born[:500], male[:500], rng, alloc)
    allnums = np.concatenate([a, b])
    assert len(set(allnums.tolist())) == len(allnums)
    assert all(cpr.birth_date(x) == dt.date(1980, 5, 5) for x in allnums)
    assert [cpr.sex(x) == ("M" if m else "K") for x, m in zip(a, male)] == [True] * len(a)
    rep = cpr.make_cpr_array(born[:10], male[:10], rng, replacement=True)
    assert all(cpr.is_replacement(x) for x in rep)


@settings(max_examples=300, deadline=None)
@given(st.dates(min_value=dt.date(1858, 1, 1), max_value=dt.date(2057, 12, 31)),
       st.sampled_from(["M", "K"]), st.integers(0, 2**32 - 1))
def test_make_parse_round_trip(born, sex_, seed):
    rng = np.random.default_rng(seed)
    number = cpr.make_cpr(born, sex_, rng)
    assert len(number) == 10 and number.isdigit()
    assert cpr.is_valid(number)
    assert cpr.birth_date(number) == born
    assert cpr.birth_date(cpr.format_dashed(number)) == born
    assert cpr.sex(number) == sex_
    replacement = cpr.make_replacement(born, sex_, rng)
    assert cpr.is_replacement(replacement) and not cpr.is_valid(replacement)
    if number.startswith("0"):
        assert cpr.normalise(int(number)) == number
