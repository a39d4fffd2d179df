-- Schemas of the warehouse, by layer (data flows top to bottom). Applied in file-name order, idempotent.
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS staging;
CREATE SCHEMA IF NOT EXISTS quarantine;
CREATE SCHEMA IF NOT EXISTS identity;
CREATE SCHEMA IF NOT EXISTS consent;
CREATE SCHEMA IF NOT EXISTS unified;
CREATE SCHEMA IF NOT EXISTS quality;
CREATE SCHEMA IF NOT EXISTS meta;

-- The CPR helpers used by the staging SQL (normalise_cpr, cpr_status, cpr_birth_date, cpr_sex, cpr_year,
-- cpr_replacement_date) are not written here: core.warehouse.apply_ddl creates them before this file from the one CPR
-- rule, src/samlet_overblik/core/cpr.py (cpr.sql_macros()), so the rule has one text. Modulus 11 is deliberately not checked.
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
-- A person-register relation (parent, custody) in force on a day: begun, and not ended before it (open ends are NULL).
CREATE OR REPLACE MACRO relation_in_force(valid_from, valid_to, day) AS
    (valid_from IS NULL OR valid_from <= day) AND (valid_to IS NULL OR valid_to >= day);
-- A staff directory's row (staging.caseworkers): a name is required; an e-mail, when given, must look like one.
CREATE OR REPLACE MACRO staff_problem(name_raw, email_raw) AS (
    CASE
        WHEN nullif(trim(name_raw), '') IS NULL THEN 'missing_name'
        WHEN email_raw IS NOT NULL AND NOT regexp_full_match(trim(email_raw), '[^@\s]+@[^@\s]+\.[^@\s]+') THEN 'invalid_email'
    END
);
-- An amount in DKK: when given it must be a number and not negative.
CREATE OR REPLACE MACRO amount_problem(raw) AS (
    CASE
        WHEN raw IS NOT NULL AND TRY_CAST(raw AS DECIMAL(14, 2)) IS NULL THEN 'invalid_amount'
        WHEN TRY_CAST(raw AS DECIMAL(14, 2)) < 0 THEN 'negative_amount'
    END
);
