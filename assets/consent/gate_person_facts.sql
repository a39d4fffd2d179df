-- target: _person_facts (a temporary table of the gate's run)
-- description: Facts about the citizen that legal-basis conditions refer to.
SELECT r.person_key,
       bool_or(r.source_department = 'boern_familie' AND (i.end_date IS NULL OR i.end_date >= CAST($ref AS DATE))
               AND p.birth_date > CAST($ref AS DATE) - INTERVAL 18 YEAR) AS child_with_open_case,
       bool_or(cp.record_id IS NOT NULL) AS has_coordination_plan
FROM _records r
JOIN staging.interventions i USING (source, source_table, record_id)
LEFT JOIN staging.cpr_persons p ON p.cpr = r.cpr
LEFT JOIN (
    SELECT l.person_key, c.record_id FROM staging.coordination_plans c
    JOIN identity.person_links l ON l.source = c.source AND l."table" = c.person_table AND l.record_id = c.person_record_id
) cp ON cp.person_key = r.person_key
WHERE r.person_key IS NOT NULL
GROUP BY r.person_key
