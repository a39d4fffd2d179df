-- target: staging.cpr_address_history
-- source: cpr.adressehistorik
-- description: Earlier addresses.
SELECT
    CAST(r.adresse_id AS VARCHAR) AS record_id,
    normalise_cpr(r.cpr) AS cpr,
    r.adresse AS address,
    r.postnr AS postcode,
    parse_date(r.fra_dato) AS valid_from,
    parse_date(r.til_dato) AS valid_to,
    CASE WHEN normalise_cpr(r.cpr) IS NULL THEN 'invalid_cpr' END AS _reject_reason,
    r AS _raw_row
FROM raw.cpr__adressehistorik r
