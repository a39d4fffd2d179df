-- target: staging.consents
-- source: samtykke.samtykke
-- description: Consent versions from the registry; a version that cannot be interpreted is quarantined (and so never admits anything).
SELECT
    CAST(r.samtykke_id AS VARCHAR) AS samtykke_id,
    TRY_CAST(r.version AS INTEGER) AS version,
    normalise_cpr(r.cpr) AS cpr,
    normalise_cpr(r.givet_af_cpr) AS given_by_cpr,
    r.formaal AS purpose,
    parse_ts(r.givet_tid) AS given_at,
    parse_date(r.gyldig_til) AS valid_until,
    parse_ts(r.tilbagekaldt_tid) AS withdrawn_at,
    r.kanal AS channel,
    r.registreret_af AS registered_by,
    parse_ts(r.opdateret_tid) AS updated_at,
    CASE
        WHEN r.samtykke_id IS NULL OR r.version IS NULL THEN 'missing_key'
        WHEN TRY_CAST(r.version AS INTEGER) IS NULL THEN 'invalid_version'
        WHEN cpr_status(normalise_cpr(r.cpr)) NOT IN ('valid', 'replacement') THEN 'invalid_cpr'
        WHEN r.givet_af_cpr IS NOT NULL AND normalise_cpr(r.givet_af_cpr) IS NULL THEN 'invalid_cpr'
        WHEN parse_ts(r.givet_tid) IS NULL THEN 'unparseable_date'
        WHEN r.gyldig_til IS NOT NULL AND parse_date(r.gyldig_til) IS NULL THEN 'unparseable_date'
        WHEN r.tilbagekaldt_tid IS NOT NULL AND parse_ts(r.tilbagekaldt_tid) IS NULL THEN 'unparseable_date'
        WHEN parse_ts(r.tilbagekaldt_tid) < parse_ts(r.givet_tid) THEN 'withdrawn_before_given'
    END AS _reject_reason,
    r AS _raw_row
FROM raw.samtykke__samtykke r
