-- target: staging.cpr_name_history
-- source: cpr.navnehistorik
-- description: Earlier names (before marriage and other changes).
SELECT
    CAST(r.navn_id AS VARCHAR) AS record_id,
    normalise_cpr(r.cpr) AS cpr,
    fix_mojibake(r.fornavn) AS given_name,
    fix_mojibake(r.efternavn) AS family_name,
    parse_date(r.fra_dato) AS valid_from,
    parse_date(r.til_dato) AS valid_to,
    CASE WHEN normalise_cpr(r.cpr) IS NULL THEN 'invalid_cpr' END AS _reject_reason,
    r AS _raw_row
FROM raw.cpr__navnehistorik r
