-- target: staging.consent_scopes
-- source: samtykke.samtykke_omfang
-- description: What each consent version lets flow; an unknown department or category is quarantined, never guessed.
SELECT
    CAST(r.samtykke_id AS VARCHAR) AS samtykke_id,
    TRY_CAST(r.version AS INTEGER) AS version,
    r.fra_afdeling AS from_department,
    r.til_afdeling AS to_department,
    r.kategori AS category,
    CASE
        WHEN r.samtykke_id IS NULL OR TRY_CAST(r.version AS INTEGER) IS NULL THEN 'missing_key'
        WHEN r.fra_afdeling NOT IN ('boern_familie', 'beskaeftigelse', 'social_voksen', 'sundhed_aeldre')
          OR r.til_afdeling NOT IN ('boern_familie', 'beskaeftigelse', 'social_voksen', 'sundhed_aeldre') THEN 'unknown_department'
        WHEN r.kategori NOT IN ('indsatser', 'ydelser', 'helbred', 'misbrug', 'kontakt') THEN 'unknown_category'
        WHEN NOT EXISTS (SELECT 1 FROM raw.samtykke__samtykke s WHERE s.samtykke_id = r.samtykke_id AND s.version = r.version)
            THEN 'orphan_consent_reference'
    END AS _reject_reason,
    r AS _raw_row
FROM raw.samtykke__samtykke_omfang r
