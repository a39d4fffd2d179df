-- id: hjemmebesoeg_samme_dag
-- title: Hjemmebesøg fra flere afdelinger samme dag
-- description: Medarbejdere fra to eller flere afdelinger har været i det samme hjem samme dag. Dobbeltbesøg koster penge og belaster borgeren: se forløbene igennem og find ud af, hvem der kom i hjemmet.
-- Inputs: scope_home_visits (home = normalised address), scope_settings. One row per citizen visited in that home that day.
WITH visits AS (
    SELECT v.* FROM scope_home_visits v CROSS JOIN scope_settings p
    WHERE v.home IS NOT NULL AND v.person_key IS NOT NULL
      AND v.visit_date BETWEEN p.reference_date - p.signal_lookback_days AND p.reference_date
),
shared_days AS (
    -- The few homes that two or more departments visited on one day, found before any list is built.
    SELECT home, visit_date FROM visits GROUP BY home, visit_date HAVING count(DISTINCT department) >= 2
),
same_day AS (
    SELECT home, visit_date,
           list_sort(list(DISTINCT department)) AS departments,
           count(*) AS n_visits,
           list(DISTINCT person_key) AS persons,
           list({'source': source, 'source_table': source_table, 'record_id': record_id}
                ORDER BY source, source_table, record_id) AS records
    FROM visits SEMI JOIN shared_days USING (home, visit_date)
    GROUP BY home, visit_date
)
SELECT unnest(persons) AS person_key,
       visit_date AS signal_date,
       printf('%d besøg fra %d afdelinger (%s) i samme hjem den %s', n_visits, len(departments),
              array_to_string(departments, ', '), strftime(visit_date, '%d-%m-%Y')) AS detail,
       departments,
       records
FROM same_day
