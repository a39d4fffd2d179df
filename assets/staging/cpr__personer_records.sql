-- target: staging.person_records
-- source: cpr.personer
-- description: Register persons as person records, so identity links every person-identifying record.
SELECT
    'cpr' AS source, 'personer' AS source_table, CAST(r.cpr AS VARCHAR) AS record_id,
    NULL AS department,
    normalise_cpr(r.cpr) AS national_id,
    cpr_status(normalise_cpr(r.cpr)) AS national_id_status,
    fix_mojibake(r.fornavn) AS given_name,
    fix_mojibake(r.efternavn) AS family_name,
    coalesce(parse_date(r.foedselsdato), cpr_birth_date(normalise_cpr(r.cpr))) AS birth_date,
    r.koen AS sex,
    r.adresse AS address,
    r.postnr AS postcode,
    parse_ts(r.opdateret) AS updated_at,
    NULL AS _reject_reason,
    r AS _raw_row
FROM raw.cpr__personer r
