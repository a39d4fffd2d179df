-- target: _data (a temporary table of the gate's run)
-- description: Every datum that can cross a department boundary, with the department it belongs to and its category: records (interventions, benefits, contacts), coordination plans with their tovholder (contact information of the lead department) and home visits (the category of the service they deliver; a visit whose service is unknown counts as health data, the strictest category, so it never crosses on a general rule).
SELECT source, source_table, record_id, department AS source_department, category, person_table, person_record_id
FROM staging.interventions
UNION ALL
SELECT source, source_table, record_id, department, 'kontakt', person_table, person_record_id
FROM staging.coordination_plans
UNION ALL
SELECT v.source, v.source_table, v.record_id, v.department, coalesce(s.category, 'helbred'), v.person_table,
       v.person_record_id
FROM staging.home_visits v
LEFT JOIN (SELECT source, record_id, department, min(category) AS category FROM staging.interventions GROUP BY ALL) s
  ON s.source = v.source AND s.record_id = v.service_record_id AND s.department = v.department
