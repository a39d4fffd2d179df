-- target: _registry_now (a temporary table of the run, kept in consent.registry_keys)
-- description: The key of every consent version the registry holds in this run, whether it could be read (staged) or not (quarantined, its key read from the raw row). A key that disappears from one run to the next is a consent deleted at the source: the registry check counts those against the last trusted run. Parameters: $consent_asset (the staging asset whose quarantined rows are unreadable versions).
SELECT DISTINCT samtykke_id, CAST(version AS VARCHAR) AS version FROM staging.consents
UNION
SELECT DISTINCT json_extract_string(raw_row, '$.samtykke_id'), json_extract_string(raw_row, '$.version')
FROM quarantine.rejected_rows WHERE asset = $consent_asset
