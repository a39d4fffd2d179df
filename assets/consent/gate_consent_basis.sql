-- target: _consent_basis (a temporary table of the gate's run)
-- description: The gate's step consent_basis.
SELECT cpr, from_department, to_department, category,
       min('samtykke:' || samtykke_id || '@' || CAST(version AS VARCHAR)) AS basis
FROM consent.effective_grants GROUP BY ALL
