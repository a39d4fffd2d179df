-- target: consent.record_decisions
-- description: Every (datum, viewer department) pair of the run, decided: admitted with its basis, or blocked with the reason. Parameters: $run_id, $own (the own-department basis), $fail_closed, $departments.
SELECT $run_id AS run_id, source, source_table, record_id, person_key, source_department, category,
       viewer_department, CASE WHEN basis IS NULL THEN 'blocked' ELSE 'admitted' END AS decision, basis, reason
FROM (
    WITH pairs AS (
        SELECT r.*, v.viewer_department FROM _records r CROSS JOIN (SELECT unnest($departments) AS viewer_department) v
    ),
    has_consent AS (SELECT DISTINCT cpr FROM consent.effective_grants)
    SELECT p.source, p.source_table, p.record_id, p.person_key, p.source_department, p.category, p.viewer_department,
        CASE
            WHEN p.viewer_department = p.source_department THEN $own
            WHEN $fail_closed THEN NULL
            ELSE coalesce(cb.basis, lb.basis)
        END AS basis,
        CASE
            WHEN p.viewer_department = p.source_department THEN NULL
            WHEN $fail_closed THEN 'fail_closed'
            WHEN cb.basis IS NOT NULL OR lb.basis IS NOT NULL THEN NULL
            WHEN p.cpr IS NULL THEN 'no_identified_person'
            WHEN nf.status IN ('withdrawn', 'expired', 'giver_without_custody', 'invalid_version', 'not_yet_given', 'purpose_not_covered')
                THEN 'consent_' || nf.status
            WHEN hc.cpr IS NOT NULL THEN 'scope_excludes'
            WHEN nf.status = 'superseded' THEN 'consent_superseded'
            ELSE 'no_consent'
        END AS reason
    FROM pairs p
    LEFT JOIN _consent_basis cb ON cb.cpr = p.cpr AND cb.from_department = p.source_department
         AND cb.to_department = p.viewer_department AND cb.category = p.category
    LEFT JOIN _legal_basis lb ON lb.source = p.source AND lb.source_table = p.source_table
         AND lb.record_id = p.record_id AND lb.viewer_department = p.viewer_department
    LEFT JOIN _not_in_force nf ON nf.cpr = p.cpr AND nf.from_department = p.source_department
         AND nf.to_department = p.viewer_department AND nf.category = p.category
    LEFT JOIN has_consent hc ON hc.cpr = p.cpr
)
