-- target: unified.relatives
-- description: Each citizen's family as a caseworker's lookup shows it: the citizen, parents and custody holders, children, the other parents of the citizen's children and the living people at the same address (at most 40 relatives).
-- depends: unified.interventions, staging.cpr_relations, staging.cpr_persons, identity.person_keys
-- Inputs: $ref (the reference date of the unified build). Relations in force as in the family overview
-- (relation_in_force); the consent gate decides at lookup time which relatives a department may see named.
-- Only citizens with a record are listed: a lookup shows no one else (relatives can be anyone).
WITH people AS (
    SELECT k.person_key, k.cpr, p.given_name, p.family_name, p.birth_date, p.sex, p.status, p.address, p.postcode
    FROM identity.person_keys k LEFT JOIN staging.cpr_persons p USING (cpr)
    WHERE k.merged_into IS NULL AND k.cpr IS NOT NULL
),
citizens AS (
    SELECT * FROM people
    WHERE person_key IN (SELECT person_key FROM unified.interventions WHERE person_key IS NOT NULL)
),
relations AS (
    SELECT child_cpr, related_cpr, relation FROM staging.cpr_relations
    WHERE relation IN ('foraelder', 'foraeldremyndighed') AND relation_in_force(valid_from, valid_to, CAST($ref AS DATE))
),
pairs AS (
    SELECT child_cpr AS cpr, related_cpr AS other_cpr,
           CASE relation WHEN 'foraeldremyndighed' THEN 'forældremyndighed' ELSE 'forælder' END AS kind
    FROM relations
    UNION ALL
    SELECT related_cpr, child_cpr, 'barn' FROM relations
    UNION ALL
    -- The other parent of the citizen's children.
    SELECT a.related_cpr, b.related_cpr, 'medforælder'
    FROM relations a JOIN relations b ON a.child_cpr = b.child_cpr AND a.related_cpr <> b.related_cpr
    WHERE a.relation = 'foraelder' AND b.relation = 'foraelder'
    UNION ALL
    -- Registered at the citizen's address (same postcode) and living there now.
    SELECT me.cpr, other.cpr, 'husstand'
    FROM citizens me JOIN people other
      ON other.address = me.address AND other.postcode IS NOT DISTINCT FROM me.postcode AND other.cpr <> me.cpr
    WHERE other.status = 'aktiv'
),
related AS (
    SELECT cpr, other_cpr, list_sort(list(DISTINCT kind)) AS kinds FROM pairs GROUP BY ALL
),
-- Relatives by kin before the household, at most 40 a citizen; dead relatives are left out.
kept AS (
    SELECT me.person_key, other.person_key AS relative_key, other.cpr AS relative_cpr, other.given_name,
           other.family_name, other.birth_date, other.sex, other.status, r.kinds,
           row_number() OVER (PARTITION BY me.person_key ORDER BY r.kinds = ['husstand'], other.cpr) AS position
    FROM related r
    JOIN citizens me ON me.cpr = r.cpr
    JOIN people other ON other.cpr = r.other_cpr
    WHERE coalesce(other.status, 'aktiv') <> 'doed'
)
SELECT person_key, relative_key, relative_cpr, given_name, family_name, birth_date, sex, status, kinds,
       CAST($ref AS DATE) AS reference_date
FROM kept WHERE position <= 40
UNION ALL
SELECT person_key, person_key, cpr, given_name, family_name, birth_date, sex, status, ['selv'], CAST($ref AS DATE)
FROM citizens
