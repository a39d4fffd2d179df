-- target: id_scope (a temporary table of the identity run)
-- description: The records an incremental run links again; every other record keeps its link, because nothing it is judged on changed. Again: a new record or one whose identifying fields changed; every record of a person without a register entry (those records are matched among themselves, together); every record linked to a register person by a CPR correction or by the model whose candidates include a register person that changed (id_touched); every record of a register person whose register data changed or who left the register; and every record of a person a data steward decided about (a decision can join or part whole persons). Reads id_fp, id_changed_register and id_touched.
WITH prev AS (
    SELECT l.source, l."table" AS source_table, l.record_id, l.person_key, l.method, l.fingerprint, k.cpr
    FROM identity.person_links l LEFT JOIN identity.person_keys k USING (person_key)
),
decided AS (
    SELECT source_a AS source, table_a AS source_table, record_id_a AS record_id FROM identity.steward_decisions
    UNION SELECT source_b, table_b, record_id_b FROM identity.steward_decisions
),
decided_persons AS (
    SELECT DISTINCT p.person_key FROM prev p JOIN decided d USING (source, source_table, record_id)
)
SELECT f.source, f.source_table, f.record_id
FROM id_fp f LEFT JOIN prev p USING (source, source_table, record_id)
WHERE p.record_id IS NULL
   OR p.fingerprint IS DISTINCT FROM f.fingerprint
   OR p.cpr IS NULL
   OR (source, source_table, record_id) IN (SELECT (source, source_table, record_id) FROM id_touched)
   OR p.cpr IN (SELECT cpr FROM id_changed_register)
   OR p.person_key IN (SELECT person_key FROM decided_persons)
