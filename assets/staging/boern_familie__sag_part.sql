-- target: staging.person_records
-- source: boern_familie.sag_part
-- description: Parents and custody holders on a child's case.
SELECT
    'boern_familie' AS source, 'sag_part' AS source_table, CAST(r.part_id AS VARCHAR) AS record_id,
    'boern_familie' AS department,
    normalise_cpr(r.part_cpr) AS national_id,
    cpr_status(normalise_cpr(r.part_cpr)) AS national_id_status,
    fix_mojibake(r.fornavn) AS given_name,
    fix_mojibake(r.efternavn) AS family_name,
    cpr_birth_date(normalise_cpr(r.part_cpr)) AS birth_date,
    CASE WHEN cpr_status(normalise_cpr(r.part_cpr)) = 'valid' THEN cpr_sex(normalise_cpr(r.part_cpr)) END AS sex,
    NULL AS address,
    NULL AS postcode,
    parse_ts(r.aendret_tid) AS updated_at,
    NULL AS _reject_reason,
    r AS _raw_row
FROM raw.boern_familie__sag_part r
