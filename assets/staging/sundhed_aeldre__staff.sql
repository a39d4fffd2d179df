-- target: staging.caseworkers
-- source: sundhed_aeldre.staff
-- description: The department's caseworkers with team, telephone and e-mail.
SELECT
    'sundhed_aeldre' AS source, 'staff' AS source_table, CAST(r.staff_id AS VARCHAR) AS record_id,
    'sundhed_aeldre' AS department,
    trim(fix_mojibake(r.name)) AS name,
    r.team AS team,
    r.phone AS phone,
    lower(trim(r.email)) AS email,
    parse_ts(r.updated_at) AS updated_at,
    staff_problem(r.name, r.email) AS _reject_reason,
    r AS _raw_row
FROM raw.sundhed_aeldre__staff r
