-- target: staging.person_records
-- source: samtykke.samtykke
-- description: The person each consent version concerns, as a person record for identity.
SELECT
    'samtykke' AS source, 'samtykke' AS source_table, r.samtykke_id || '@' || CAST(r.version AS VARCHAR) AS record_id,
    NULL AS department,
    normalise_cpr(r.cpr) AS national_id,
    cpr_status(normalise_cpr(r.cpr)) AS national_id_status,
    NULL AS given_name, NULL AS family_name,
    cpr_birth_date(normalise_cpr(r.cpr)) AS birth_date,
    CASE WHEN cpr_status(normalise_cpr(r.cpr)) = 'valid' THEN cpr_sex(normalise_cpr(r.cpr)) END AS sex,
    NULL AS address, NULL AS postcode,
    parse_ts(r.opdateret_tid) AS updated_at,
    CASE WHEN r.samtykke_id IS NULL OR r.version IS NULL THEN 'missing_key' END AS _reject_reason,
    r AS _raw_row
FROM raw.samtykke__samtykke r
