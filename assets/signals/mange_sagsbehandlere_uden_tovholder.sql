-- id: mange_sagsbehandlere_uden_tovholder
-- title: Mange sagsbehandlere og ingen tovholder
-- description: Borgeren har aktive sager hos tre eller flere sagsbehandlere (grænsen er thresholds.min_caseworkers), men ingen koordinerende sagsbehandler (tovholder) er registreret. Loven om én plan giver mulighed for én koordineret handleplan med én tovholder.
-- Inputs: scope_interventions, scope_coordination_plans, scope_settings. In a department's copy "no coordinating caseworker" means none it may see.
WITH active AS (
    SELECT * FROM scope_interventions WHERE status = 'aktiv' AND person_key IS NOT NULL AND caseworker IS NOT NULL
),
per_person AS (
    SELECT person_key,
           count(DISTINCT caseworker) AS n_caseworkers,
           list_sort(list(DISTINCT department)) AS departments,
           list({'source': source, 'source_table': source_table, 'record_id': record_id}
                ORDER BY source, source_table, record_id) AS records
    FROM active GROUP BY person_key
)
SELECT p.person_key,
       s.reference_date AS signal_date,
       printf('%d sagsbehandlere i %d %s (%s) og ingen registreret tovholder', p.n_caseworkers,
              len(p.departments), CASE WHEN len(p.departments) = 1 THEN 'afdeling' ELSE 'afdelinger' END,
              array_to_string(list_transform(p.departments, lambda d: department_name(d)), ', ')) AS detail,
       p.departments,
       p.records
FROM per_person p CROSS JOIN scope_settings s
WHERE p.n_caseworkers >= s.min_caseworkers
  AND NOT EXISTS (SELECT 1 FROM scope_coordination_plans c WHERE c.person_key = p.person_key)
