-- id: randers_sanktion_under_kontaktperson
-- title: Sanktion mens borgeren har en støtte- og kontaktperson
-- description: Jobcentret har sanktioneret borgeren, mens borgeren har en aktiv støtte- og kontaktperson (SEL § 99) i Socialområdet. Randers-aftalen: beskæftigelsesmyndigheden sanktionerer ikke, før kontaktpersonen i socialcentret er kontaktet.
-- Inputs: scope_interventions, scope_settings. Output: person_key, signal_date, detail, departments, records.
SELECT s.person_key,
       s.start_date AS signal_date,
       printf('Sanktion den %s (%s) mens borgeren har %s (%s) fra %s%s',
              strftime(s.start_date, '%d-%m-%Y'), s.title, k.title, coalesce(k.legal_paragraph, 'kontakt'),
              strftime(k.start_date, '%d-%m-%Y'),
              CASE WHEN k.end_date IS NULL THEN '' ELSE ' til ' || strftime(k.end_date, '%d-%m-%Y') END) AS detail,
       ['beskaeftigelse', 'social_voksen'] AS departments,
       [{'source': s.source, 'source_table': s.source_table, 'record_id': s.record_id},
        {'source': k.source, 'source_table': k.source_table, 'record_id': k.record_id}] AS records
FROM scope_interventions s
CROSS JOIN scope_settings p
JOIN scope_interventions k
  ON k.person_key = s.person_key
 AND k.department = 'social_voksen'
 AND (regexp_matches(coalesce(k.legal_paragraph, ''), '§\s*99(\D|$)') OR k.category = 'kontakt')
 AND k.kind <> 'underretning'
 AND s.start_date >= k.start_date
 AND (k.end_date IS NULL OR s.start_date <= k.end_date)
WHERE s.department = 'beskaeftigelse'
  AND s.kind = 'sanktion'
  AND s.person_key IS NOT NULL
  AND s.start_date BETWEEN p.reference_date - p.signal_lookback_days AND p.reference_date
