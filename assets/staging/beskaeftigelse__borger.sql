-- target: staging.person_records
-- source: beskaeftigelse.borger
-- description: Citizens known to the job centre (CPR as 10 digits; a lost leading zero is restored).
SELECT
    'beskaeftigelse' AS source, 'borger' AS source_table, CAST(r.borger_id AS VARCHAR) AS record_id,
    'beskaeftigelse' AS department,
    normalise_cpr(r.cprnr) AS national_id,
    cpr_status(normalise_cpr(r.cprnr)) AS national_id_status,
    fix_mojibake(r.fornavn) AS given_name,
    fix_mojibake(r.efternavn) AS family_name,
    cpr_birth_date(normalise_cpr(r.cprnr)) AS birth_date,
    CASE WHEN cpr_status(normalise_cpr(r.cprnr)) = 'valid' THEN cpr_sex(normalise_cpr(r.cprnr)) END AS sex,
    fix_mojibake(r.adresse) AS address,
    r.postnr AS postcode,
    parse_ts(r.sidst_aendret) AS updated_at,
    NULL AS _reject_reason,
    r AS _raw_row
FROM raw.beskaeftigelse__borger r
