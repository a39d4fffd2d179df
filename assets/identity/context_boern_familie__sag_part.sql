-- description: A party on a child's case is most likely one of the child's registered parents or custody holders: their CPR numbers are candidates for the party (this settles parents recorded without a CPR).
-- Output: source, source_table, record_id (a person record) and candidate_cpr (a CPR number its person is likely to have).
SELECT DISTINCT
    'boern_familie' AS source, 'sag_part' AS source_table, CAST(sp.part_id AS VARCHAR) AS record_id,
    r.related_cpr AS candidate_cpr
FROM raw.boern_familie__sag_part sp
JOIN staging.person_records c ON c.source = 'boern_familie' AND c.source_table = 'sag'
     AND c.record_id = CAST(sp.sags_id AS VARCHAR) AND c.national_id_status = 'valid'
JOIN staging.cpr_relations r ON r.child_cpr = c.national_id
