-- target: staging.cpr_persons
-- source: cpr.personer
-- description: The person register, the master for identities.
SELECT
    normalise_cpr(r.cpr) AS cpr,
    fix_mojibake(r.fornavn) AS given_name,
    fix_mojibake(r.efternavn) AS family_name,
    coalesce(parse_date(r.foedselsdato), cpr_birth_date(normalise_cpr(r.cpr))) AS birth_date,
    r.koen AS sex,
    r.adresse AS address,
    r.postnr AS postcode,
    r.bynavn AS town,
    r.status,
    parse_date(r.doedsdato) AS death_date,
    parse_ts(r.opdateret) AS updated_at,
    CASE
        WHEN cpr_status(normalise_cpr(r.cpr)) <> 'valid' THEN 'invalid_cpr'
        WHEN r.foedselsdato IS NOT NULL AND parse_date(r.foedselsdato) IS NULL THEN 'unparseable_date'
    END AS _reject_reason,
    r AS _raw_row
FROM raw.cpr__personer r
