-- target: consent.evaluated
-- description: Every consent version judged at the reference time ($ref): in force, or why not (DESIGN.md's definition), with the reason in Danish. Parameters: $ref, $purposes (the policy's), $custody (a proxy must hold custody), $consent_asset (the staging asset whose quarantined rows are unreadable versions).
WITH invalid_ids AS (
    -- A consent with a version that could not be read is not used at all: an older, broader
    -- version must not come back to life because its replacement was malformed.
    SELECT DISTINCT json_extract_string(raw_row, '$.samtykke_id') AS samtykke_id
    FROM quarantine.rejected_rows WHERE asset = $consent_asset
),
ranked AS (
    SELECT c.*,
           c.given_at <= $ref AS given,
           row_number() OVER (PARTITION BY c.samtykke_id ORDER BY (c.given_at <= $ref) DESC, c.version DESC) AS rn
    FROM staging.consents c
),
custody AS (
    SELECT DISTINCT c.samtykke_id, c.version
    FROM staging.consents c JOIN staging.cpr_relations r
      ON r.child_cpr = c.cpr AND r.related_cpr = c.given_by_cpr AND r.relation = 'foraeldremyndighed'
     AND (r.valid_from IS NULL OR r.valid_from <= CAST(c.given_at AS DATE))
     AND (r.valid_to IS NULL OR r.valid_to >= CAST(c.given_at AS DATE))
)
SELECT r.samtykke_id, r.version, r.cpr,
    CASE
        WHEN i.samtykke_id IS NOT NULL THEN 'invalid_version'
        WHEN NOT r.given THEN 'not_yet_given'
        WHEN r.rn > 1 THEN 'superseded'
        WHEN r.withdrawn_at IS NOT NULL AND r.withdrawn_at <= $ref THEN 'withdrawn'
        WHEN r.valid_until IS NOT NULL AND r.valid_until < CAST($ref AS DATE) THEN 'expired'
        WHEN NOT list_contains($purposes, r.purpose) THEN 'purpose_not_covered'
        WHEN $custody AND r.given_by_cpr IS NOT NULL AND r.given_by_cpr <> r.cpr AND cu.samtykke_id IS NULL
            THEN 'giver_without_custody'
        ELSE 'in_force'
    END AS status,
    CASE
        WHEN i.samtykke_id IS NOT NULL THEN 'En version af samtykket kunne ikke læses (karantæne)'
        WHEN NOT r.given THEN 'Givet efter kørslens referencetid'
        WHEN r.rn > 1 THEN 'Erstattet af en nyere version'
        WHEN r.withdrawn_at IS NOT NULL AND r.withdrawn_at <= $ref THEN 'Tilbagekaldt ' || strftime(r.withdrawn_at, '%Y-%m-%d %H:%M')
        WHEN r.valid_until IS NOT NULL AND r.valid_until < CAST($ref AS DATE) THEN 'Udløbet ' || strftime(r.valid_until, '%Y-%m-%d')
        WHEN NOT list_contains($purposes, r.purpose) THEN 'Formålet er ikke omfattet af politikken'
        WHEN $custody AND r.given_by_cpr IS NOT NULL AND r.given_by_cpr <> r.cpr AND cu.samtykke_id IS NULL
            THEN 'Givet af en person uden forældremyndighed på tidspunktet'
    END AS reason
FROM ranked r
LEFT JOIN invalid_ids i ON i.samtykke_id = r.samtykke_id
LEFT JOIN custody cu ON cu.samtykke_id = r.samtykke_id AND cu.version = r.version
