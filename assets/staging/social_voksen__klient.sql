-- target: staging.person_records
-- source: social_voksen.klient
-- description: Adult social services clients; anonymous treatment has no CPR, only a full name.
SELECT
    'social_voksen' AS source, 'klient' AS source_table, CAST(r.klient_id AS VARCHAR) AS record_id,
    'social_voksen' AS department,
    normalise_cpr(r.cpr) AS national_id,
    cpr_status(normalise_cpr(r.cpr)) AS national_id_status,
    -- The system keeps the full name in one field: the last word is the family name.
    nullif(trim(regexp_replace(fix_mojibake(r.navn), '\s*\S+$', '')), '') AS given_name,
    regexp_extract(fix_mojibake(r.navn), '(\S+)$', 1) AS family_name,
    coalesce(parse_date(r.foedselsdato), cpr_birth_date(normalise_cpr(r.cpr))) AS birth_date,
    CASE WHEN cpr_status(normalise_cpr(r.cpr)) = 'valid' THEN cpr_sex(normalise_cpr(r.cpr)) END AS sex,
    fix_mojibake(r.adresse) AS address,
    r.postnr AS postcode,
    parse_ts(r.aendret) AS updated_at,
    NULL AS _reject_reason,
    r AS _raw_row
FROM raw.social_voksen__klient r
