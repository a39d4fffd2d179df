-- target: consent.effective_grants
-- description: The (citizen, from department, to department, category) grants of every consent version in force.
SELECT e.cpr, s.samtykke_id, s.version, s.from_department, s.to_department, s.category
FROM consent.evaluated e JOIN staging.consent_scopes s USING (samtykke_id, version)
WHERE e.status = 'in_force' AND s.from_department <> s.to_department
