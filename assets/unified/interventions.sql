-- target: unified.interventions
-- description: Every staged intervention, benefit, service, sanction, notification and contact with its person key, status at the reference date and the freshness of its source.
-- depends: staging.interventions, identity.person_links, meta.source_loads
-- Inputs besides the warehouse tables: scope_settings (one row: reference_date, thresholds).
WITH loads AS (
    SELECT source, source_table,
           max(loaded_at) FILTER (status = 'ok') AS last_ok,
           max(loaded_at) FILTER (status = 'stale') AS last_stale
    FROM meta.source_loads
    GROUP BY ALL
)
SELECT
    l.person_key,
    i.department,
    CASE i.department
        WHEN 'boern_familie' THEN 'Børn og Familie'
        WHEN 'beskaeftigelse' THEN 'Jobcenter / Beskæftigelse'
        WHEN 'social_voksen' THEN 'Socialområdet (voksne)'
        WHEN 'sundhed_aeldre' THEN 'Sundhed og Ældre'
        ELSE i.department
    END AS sector,
    i.category,
    i.kind,
    i.legal_paragraph,
    i.title,
    i.start_date,
    i.end_date,
    CASE
        WHEN i.start_date > s.reference_date THEN 'kommende'
        WHEN i.end_date < s.reference_date THEN 'afsluttet'
        ELSE 'aktiv'
    END AS status,
    i.caseworker,
    i.monthly_cost,
    i.source,
    i.source_table,
    i.record_id,
    ld.last_ok AS data_as_of,
    CASE WHEN ld.last_stale IS NOT NULL AND ld.last_stale >= coalesce(ld.last_ok, ld.last_stale) THEN 'stale' ELSE 'ok' END AS data_status
FROM staging.interventions i
CROSS JOIN scope_settings s
LEFT JOIN identity.person_links l
       ON l.source = i.source AND l."table" = i.person_table AND l.record_id = i.person_record_id
LEFT JOIN loads ld ON ld.source = i.source AND ld.source_table = i.source_table
