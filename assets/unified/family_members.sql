-- target: unified.family_members
-- description: Per-member breakdown of the families: each child and each parent/custody holder with their active children-and-family measures, job-centre benefits and adult social services.
-- depends: unified.citizen_overview, staging.cpr_relations, identity.person_keys
-- Inputs: scope_relations (child_key, adult_key, child_birth_date, adult_birth_date: parent and custody relations
-- in force at the reference date), scope_interventions, scope_citizen_overview, scope_settings.
-- A family is a set of children with exactly the same adults; its key hashes the adults' person keys.
WITH active AS (
    SELECT * FROM scope_interventions WHERE status = 'aktiv' AND person_key IS NOT NULL
),
children AS (
    SELECT r.child_key, any_value(r.child_birth_date) AS birth_date, list_sort(list(DISTINCT r.adult_key)) AS adults
    FROM scope_relations r CROSS JOIN scope_settings s
    WHERE r.child_birth_date > s.reference_date - INTERVAL 18 YEAR
       OR r.child_key IN (SELECT person_key FROM active WHERE department = 'boern_familie')
    GROUP BY r.child_key
),
families AS (
    SELECT child_key, birth_date, adults, 'fam-' || md5(array_to_string(adults, '|'))[1:16] AS family_id FROM children
),
adult_births AS (
    SELECT adult_key, any_value(adult_birth_date) AS birth_date FROM scope_relations GROUP BY adult_key
),
members AS (
    SELECT family_id, child_key AS person_key, 'barn' AS role, birth_date FROM families
    UNION
    SELECT f.family_id, a.adult_key, 'voksen', a.birth_date
    FROM (SELECT DISTINCT family_id, unnest(adults) AS adult_key FROM families) f
    JOIN adult_births a USING (adult_key)
),
stats AS (
    SELECT person_key,
           count(*) FILTER (department = 'boern_familie') AS active_boern_familie,
           count(*) FILTER (department = 'beskaeftigelse') AS active_beskaeftigelse,
           count(*) FILTER (department = 'social_voksen') AS active_social_voksen,
           count(*) FILTER (department = 'sundhed_aeldre') AS active_sundhed_aeldre,
           list_sort(list(title) FILTER (department = 'boern_familie' AND kind = 'indsats')) AS child_measures,
           list_sort(list(title) FILTER (department = 'beskaeftigelse' AND kind = 'ydelse')) AS benefits,
           list_sort(list(title) FILTER (department = 'social_voksen' AND kind IN ('indsats', 'kontakt'))) AS social_services
    FROM active GROUP BY person_key
),
visible AS (SELECT DISTINCT person_key FROM scope_interventions),
kept AS (
    -- The restricted warehouse shows every member; a department's copy only members it has records of.
    SELECT m.* FROM members m CROSS JOIN scope_settings s
    WHERE s.all_family_members OR m.person_key IN (SELECT person_key FROM visible)
),
with_activity AS (
    SELECT family_id FROM kept JOIN stats USING (person_key) GROUP BY family_id
)
SELECT k.family_id, k.person_key, k.role, k.birth_date,
       coalesce(st.active_boern_familie, 0) AS active_boern_familie,
       coalesce(st.active_beskaeftigelse, 0) AS active_beskaeftigelse,
       coalesce(st.active_social_voksen, 0) AS active_social_voksen,
       coalesce(st.active_sundhed_aeldre, 0) AS active_sundhed_aeldre,
       coalesce(st.child_measures, []) AS child_measures,
       coalesce(st.benefits, []) AS benefits,
       coalesce(st.social_services, []) AS social_services,
       coalesce(co.annual_cost_dkk, 0) AS annual_cost_dkk
FROM kept k
JOIN with_activity USING (family_id)
LEFT JOIN stats st USING (person_key)
LEFT JOIN scope_citizen_overview co USING (person_key)
