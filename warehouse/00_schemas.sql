-- Schemas of the warehouse, by layer (data flows top to bottom). Applied in file-name order, idempotent.
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS staging;
CREATE SCHEMA IF NOT EXISTS quarantine;
CREATE SCHEMA IF NOT EXISTS identity;
CREATE SCHEMA IF NOT EXISTS consent;
CREATE SCHEMA IF NOT EXISTS unified;
CREATE SCHEMA IF NOT EXISTS quality;
CREATE SCHEMA IF NOT EXISTS meta;

-- CPR helpers used by the staging SQL. A CPR is normalised to 10 digits: dashes and spaces removed,
-- a leading zero lost by a numeric column restored. Modulus 11 is deliberately not checked.
CREATE OR REPLACE MACRO cpr_digits(x) AS regexp_replace(trim(CAST(x AS VARCHAR)), '[- ]', '', 'g');
CREATE OR REPLACE MACRO normalise_cpr(x) AS (
    CASE WHEN regexp_full_match(cpr_digits(x), '[0-9]{9,10}') THEN lpad(cpr_digits(x), 10, '0') END
);
-- The century from the 7th digit and the two-digit year (see REFERENCE.md).
CREATE OR REPLACE MACRO cpr_year(c) AS (
    CAST(substr(c, 5, 2) AS INTEGER) + CASE
        WHEN CAST(substr(c, 7, 1) AS INTEGER) <= 3 THEN 1900
        WHEN CAST(substr(c, 7, 1) AS INTEGER) IN (4, 9) THEN CASE WHEN CAST(substr(c, 5, 2) AS INTEGER) <= 36 THEN 2000 ELSE 1900 END
        ELSE CASE WHEN CAST(substr(c, 5, 2) AS INTEGER) <= 57 THEN 2000 ELSE 1800 END
    END
);
CREATE OR REPLACE MACRO cpr_birth_date(c) AS
    CAST(try_strptime(printf('%04d-%s-%s', cpr_year(c), substr(c, 3, 2), substr(c, 1, 2)), '%Y-%m-%d') AS DATE);
CREATE OR REPLACE MACRO cpr_sex(c) AS CASE WHEN CAST(substr(c, 10, 1) AS INTEGER) % 2 = 1 THEN 'M' ELSE 'K' END;
-- Replacement numbers (erstatningspersonnumre) add 60 to the day: they look like a CPR but are no date.
CREATE OR REPLACE MACRO cpr_status(c) AS (
    CASE
        WHEN c IS NULL THEN 'missing'
        WHEN cpr_birth_date(c) IS NOT NULL THEN 'valid'
        WHEN CAST(substr(c, 1, 2) AS INTEGER) BETWEEN 61 AND 91 AND CAST(substr(c, 3, 2) AS INTEGER) BETWEEN 1 AND 12 THEN 'replacement'
        ELSE 'invalid'
    END
);
-- Text that went through a Latin-1/UTF-8 mix-up ('Ã¸' for 'ø') is repaired before matching.
CREATE OR REPLACE MACRO fix_mojibake(s) AS
    replace(replace(replace(replace(replace(replace(s, 'Ã¦', 'æ'), 'Ã¸', 'ø'), 'Ã¥', 'å'), 'Ã†', 'Æ'), 'Ã˜', 'Ø'), 'Ã…', 'Å');
-- A date held as text or as DATE; NULL when it does not parse (callers quarantine on that).
CREATE OR REPLACE MACRO parse_date(x) AS CAST(try_cast(CAST(x AS VARCHAR)[1:10] AS DATE) AS DATE);
CREATE OR REPLACE MACRO parse_ts(x) AS try_cast(CAST(x AS VARCHAR) AS TIMESTAMP);
-- Validation shared by the staging SQL: the reason a row is quarantined, or NULL when it is fine.
-- A period: the start must parse, the end (when given) must parse and not come before the start.
CREATE OR REPLACE MACRO period_problem(start_raw, end_raw) AS (
    CASE
        WHEN parse_date(start_raw) IS NULL THEN 'unparseable_date'
        WHEN end_raw IS NOT NULL AND parse_date(end_raw) IS NULL THEN 'unparseable_date'
        WHEN parse_date(end_raw) < parse_date(start_raw) THEN 'end_before_start'
    END
);
-- An amount in DKK: when given it must be a number and not negative.
CREATE OR REPLACE MACRO amount_problem(raw) AS (
    CASE
        WHEN raw IS NOT NULL AND TRY_CAST(raw AS DECIMAL(14, 2)) IS NULL THEN 'invalid_amount'
        WHEN TRY_CAST(raw AS DECIMAL(14, 2)) < 0 THEN 'negative_amount'
    END
);
