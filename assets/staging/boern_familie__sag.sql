-- target: staging.person_records
-- source: boern_familie.sag
-- description: The child of each case (CPR written DDMMYY-SSSS).
SELECT
    'boern_familie' AS source, 'sag' AS source_table, CAST(r.sags_id AS VARCHAR) AS record_id,
    'boern_familie' AS department,
    normalise_cpr(r.barn_cpr) AS national_id,
    cpr_status(normalise_cpr(r.barn_cpr)) AS national_id_status,
    fix_mojibake(r.barn_fornavn) AS given_name,
    fix_mojibake(r.barn_efternavn) AS family_name,
    coalesce(parse_date(r.barn_foedselsdato), cpr_birth_date(normalise_cpr(r.barn_cpr))) AS birth_date,
    CASE WHEN cpr_status(normalise_cpr(r.barn_cpr)) = 'valid' THEN cpr_sex(normalise_cpr(r.barn_cpr)) END AS sex,
    fix_mojibake(r.adresse) AS address,
    r.postnr AS postcode,
    parse_ts(r.aendret_tid) AS updated_at,
    NULL AS _reject_reason,
    r AS _raw_row
FROM raw.boern_familie__sag r
