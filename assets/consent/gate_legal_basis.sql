-- target: _legal_basis (a temporary table of the gate's run)
-- description: The gate's step legal_basis.
SELECT r.source, r.source_table, r.record_id, pr.to_department AS viewer_department,
       min('lov:' || pr.rule_id) AS basis
FROM _records r
JOIN consent.policy_rules pr
  ON pr.kind = 'legal_rule' AND pr.from_department = r.source_department AND pr.category = r.category
LEFT JOIN _person_facts f ON f.person_key = r.person_key
WHERE pr.condition IS NULL
   OR (pr.condition = 'child_with_open_case' AND coalesce(f.child_with_open_case, FALSE))
   OR (pr.condition = 'has_coordination_plan' AND coalesce(f.has_coordination_plan, FALSE))
GROUP BY ALL
