-- target: _records (a temporary table of the gate's run)
-- description: The gate's step records.
SELECT d.source, d.source_table, d.record_id, d.source_department, d.category, l.person_key, k.cpr
FROM _data d
LEFT JOIN identity.person_links l
  ON l.source = d.source AND l."table" = d.person_table AND l.record_id = d.person_record_id
LEFT JOIN identity.person_keys k ON k.person_key = l.person_key
