-- id: dobbelt_kompensation
-- title: Samme behov dækket efter to paragraffer
-- description: Borgeren har i samme periode fået det samme behov dækket af to bevillinger efter forskellige paragraffer eller ydelser (fx to forsørgelsesydelser, hjemmehjælp efter SEL § 83 og bostøtte efter SEL § 85, eller to botilbud). Overlap på mindst 14 dage. Mulig dobbeltkompensation eller parallelle indsatser.
-- Inputs: scope_interventions, scope_settings. One row per pair of overlapping records in the same need group.
WITH needs AS (
    SELECT *,
        CASE
            WHEN department = 'beskaeftigelse' AND kind = 'ydelse' THEN 'forsørgelse (indkomstydelse)'
            WHEN regexp_matches(coalesce(legal_paragraph, ''), '^SEL § 8[35]$') THEN 'praktisk hjælp og støtte i hjemmet'
            WHEN regexp_matches(coalesce(legal_paragraph, ''), '^SEL § (107|108|110)$') THEN 'botilbud eller ophold'
            WHEN regexp_matches(coalesce(legal_paragraph, ''), '^(SEL § 86|SEL § 83 a|SUL § 140)$') THEN 'genoptræning og træning'
        END AS need
    FROM scope_interventions
    WHERE person_key IS NOT NULL AND kind NOT IN ('sanktion', 'kontakt', 'underretning')
),
pairs AS (
    SELECT a.person_key, a.need, a.department AS dep_a, b.department AS dep_b,
           greatest(a.start_date, b.start_date) AS overlap_start,
           least(coalesce(a.end_date, DATE '9999-12-31'), coalesce(b.end_date, DATE '9999-12-31')) AS overlap_end,
           a.title AS title_a, coalesce(a.legal_paragraph, '-') AS par_a,
           b.title AS title_b, coalesce(b.legal_paragraph, '-') AS par_b,
           {'source': a.source, 'source_table': a.source_table, 'record_id': a.record_id} AS rec_a,
           {'source': b.source, 'source_table': b.source_table, 'record_id': b.record_id} AS rec_b
    FROM needs a
    JOIN needs b
      ON b.person_key = a.person_key AND b.need = a.need
     AND (a.source, a.source_table, a.record_id) < (b.source, b.source_table, b.record_id)
     AND (coalesce(a.legal_paragraph, ''), coalesce(a.title, '')) IS DISTINCT FROM (coalesce(b.legal_paragraph, ''), coalesce(b.title, ''))
     AND a.start_date <= coalesce(b.end_date, DATE '9999-12-31')
     AND b.start_date <= coalesce(a.end_date, DATE '9999-12-31')
    WHERE a.need IS NOT NULL
)
SELECT person_key,
       overlap_start AS signal_date,
       printf('%s: %s (%s) og %s (%s) overlapper fra %s', need, title_a, par_a, title_b, par_b,
              strftime(overlap_start, '%d-%m-%Y')) AS detail,
       list_sort(list_distinct([dep_a, dep_b])) AS departments,
       [rec_a, rec_b] AS records
FROM pairs CROSS JOIN scope_settings p
WHERE date_diff('day', overlap_start, overlap_end) >= 13 -- at least 14 days: a hand-over between benefits is no double cover
  AND overlap_end >= p.reference_date - p.signal_lookback_days
  AND overlap_start <= p.reference_date
