-- target: _not_in_force (a temporary table of the gate's run)
-- description: Why a pair is blocked: the most telling status among the citizen's consents that would have covered it.
SELECT e.cpr, s.from_department, s.to_department, s.category,
       arg_min(e.status, CASE e.status WHEN 'withdrawn' THEN 1 WHEN 'expired' THEN 2
           WHEN 'giver_without_custody' THEN 3 WHEN 'invalid_version' THEN 4 WHEN 'not_yet_given' THEN 5
           WHEN 'purpose_not_covered' THEN 6 ELSE 7 END) AS status
FROM consent.evaluated e JOIN staging.consent_scopes s USING (samtykke_id, version)
WHERE e.status <> 'in_force' GROUP BY ALL
