-- target: _seen (a temporary table of the run, appended to consent.history)
-- description: The consent versions the registry holds in this run, each with its scope (the grants it lists, in one string) and a hash of its whole content. The history keeps one row per content hash: a version whose content changed (a withdrawal stamped, a scope widened) is a new row, so compliance can see every state a consent has been in.
SELECT c.*, coalesce(s.scope, '') AS scope,
       md5(concat_ws('|', c.samtykke_id, c.version, c.cpr, c.given_by_cpr, c.purpose, c.given_at,
                     c.valid_until, c.withdrawn_at, c.channel, c.registered_by, coalesce(s.scope, ''))) AS content_hash
FROM staging.consents c
LEFT JOIN (
    SELECT samtykke_id, version,
           string_agg(from_department || '>' || to_department || ':' || category, ','
                      ORDER BY from_department, to_department, category) AS scope
    FROM staging.consent_scopes GROUP BY ALL
) s USING (samtykke_id, version)
