"""Normalisation of names and addresses, in SQL (set-based) and in Python (same rules).

* case and surrounding space are dropped; hyphens become spaces (``Hansen-Jensen`` = ``Hansen Jensen``);
  accents are stripped (``é -> e``); anything but letters and spaces is removed.
* a *loose* key for blocking and fuzzy agreement further folds common spelling variants
  (``ch/c/k``, ``ph/f``, ``th/t``, ``w/v``, ``z/s``) and doubled letters.
* Danish (``danish=True``, what the warehouse uses; the library's ``reconcile`` only when asked): æ/ae, ø/oe, å/aa
  are one spelling (``æ -> ae``, ``ø -> oe``, ``å -> aa``; ä, ö, ü likewise), the loose key also folds ``ae/e``,
  ``oe/o``, ``aa/a``, and UTF-8 read as Latin-1 in Danish letters (``Ã¸``) is repaired.

The SQL macros are installed into a connection with :func:`install_macros`.
"""

from __future__ import annotations

import re
import unicodedata

import duckdb

_DANISH = [("æ", "ae"), ("ø", "oe"), ("å", "aa"), ("ä", "ae"), ("ö", "oe"), ("ü", "u")]
_LOOSE = [("ch", "k"), ("ph", "f"), ("th", "t"), ("c", "k"), ("q", "k"), ("w", "v"), ("z", "s"),
          ("x", "ks"), ("ae", "e"), ("oe", "o"), ("aa", "a"), ("ij", "i"), ("y", "i")]
_DANISH_LOOSE = {("ae", "e"), ("oe", "o"), ("aa", "a")}


# Danish names are written in a-z once æ, ø, å are spelt out; elsewhere a letter of any alphabet stays a letter.
_NOT_A_LETTER = {True: "[^a-z ]", False: "[^\\p{L} ]"}


def _loose_rules(danish: bool) -> list[tuple[str, str]]:
    return [r for r in _LOOSE if danish or r not in _DANISH_LOOSE]
_DOUBLES = [c + c for c in "bdfgklmnprstv"]
# Mojibake that survived staging (UTF-8 read as Latin-1).
_MOJIBAKE = [("Ã¦", "æ"), ("Ã¸", "ø"), ("Ã¥", "å"), ("Ã†", "æ"), ("Ã˜", "ø"), ("Ã…", "å")]


def _chain_sql(expr: str, pairs: list[tuple[str, str]]) -> str:
    for a, b in pairs:
        expr = f"replace({expr}, '{a}', '{b}')"
    return expr


def install_macros(con: duckdb.DuckDBPyConnection, danish: bool = True) -> None:
    """Create the ``dk_norm``, ``dk_loose``, ``addr_norm`` and helper macros (temporary, per connection), with the
    Danish rules or without them."""
    lowered = f"lower({_chain_sql('s', _MOJIBAKE)})" if danish else "lower(s)"
    folded = _chain_sql(lowered, _DANISH) if danish else lowered
    con.execute(
        f"""CREATE OR REPLACE TEMP MACRO dk_norm(s) AS nullif(trim(regexp_replace(regexp_replace(
                strip_accents({folded}), '{_NOT_A_LETTER[danish]}', ' ', 'g'), ' +', ' ', 'g')), '')"""
    )
    loose = _chain_sql(_chain_sql("s", _loose_rules(danish)), [(d, d[0]) for d in _DOUBLES])
    con.execute(f"CREATE OR REPLACE TEMP MACRO dk_loose_n(s) AS {loose}")
    con.execute("CREATE OR REPLACE TEMP MACRO dk_loose(s) AS dk_loose_n(dk_norm(s))")
    # Addresses: the street (text before the house number), the house number with letter, the rest.
    con.execute(
        f"""CREATE OR REPLACE TEMP MACRO addr_norm(s) AS nullif(trim(regexp_replace(regexp_replace(
                strip_accents({folded}),
                '[^a-z0-9 ]', ' ', 'g'), ' +', ' ', 'g')), '')"""
    )
    con.execute(
        "CREATE OR REPLACE TEMP MACRO addr_street(a) AS nullif(trim(regexp_extract(a, '^([a-z ]+?) ?[0-9]', 1)), '')"
    )
    con.execute("CREATE OR REPLACE TEMP MACRO addr_number(a) AS nullif(regexp_extract(a, '[0-9]+ ?[a-z]?\\b', 0), '')")


def normalise_name(value: str | None, danish: bool = True) -> str | None:
    """Python twin of the ``dk_norm`` macro: ``'Søren  Møller-Hansen'`` -> ``'soeren moeller hansen'``."""
    if value is None:
        return None
    s = value
    if danish:
        for a, b in _MOJIBAKE:
            s = s.replace(a, b)
    s = s.lower()
    if danish:
        for a, b in _DANISH:
            s = s.replace(a, b)
    s = "".join(c for c in unicodedata.normalize("NFD", s) if not unicodedata.combining(c))
    s = re.sub(r"[^a-z ]", " ", s) if danish else "".join(c if c.isalpha() else " " for c in s)
    s = re.sub(r" +", " ", s).strip()
    return s or None


def loose_key(value: str | None, danish: bool = True) -> str | None:
    """Python twin of ``dk_loose``: spelling variants folded (``Christensen`` = ``Kristensen``)."""
    s = normalise_name(value, danish)
    if s is None:
        return None
    for a, b in _loose_rules(danish):
        s = s.replace(a, b)
    for d in _DOUBLES:
        s = s.replace(d, d[0])
    return s
