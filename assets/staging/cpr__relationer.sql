-- target: staging.cpr_relations
-- source: cpr.relationer
-- description: Parent and custody relations with their periods.
SELECT
    CAST(r.relation_id AS VARCHAR) AS relation_id,
    normalise_cpr(r.cpr) AS child_cpr,
    normalise_cpr(r.relateret_cpr) AS related_cpr,
    r.relation,
    parse_date(r.fra_dato) AS valid_from,
    parse_date(r.til_dato) AS valid_to,
    CASE
        WHEN normalise_cpr(r.cpr) IS NULL OR normalise_cpr(r.relateret_cpr) IS NULL THEN 'invalid_cpr'
        WHEN r.relation NOT IN ('foraelder', 'foraeldremyndighed') THEN 'unknown_code'
        WHEN parse_date(r.til_dato) < parse_date(r.fra_dato) THEN 'end_before_start'
    END AS _reject_reason,
    r AS _raw_row
FROM raw.cpr__relationer r
