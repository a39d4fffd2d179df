-- target: id_reg_fp (a temporary table of the identity run)
-- description: Per register person, a hash of its register rows, its earlier names and its earlier addresses: what a record's link to that person is judged against.
WITH rows AS (
    SELECT cpr, hash('p', given_name, family_name, birth_date, sex, address, postcode) AS h FROM staging.cpr_persons
    UNION ALL
    SELECT cpr, hash('n', given_name, family_name) FROM staging.cpr_name_history
    UNION ALL
    SELECT cpr, hash('a', address, postcode) FROM staging.cpr_address_history
)
-- The sum of the rows' hashes: independent of row order, and a duplicated row still counts. The birth date and sex
-- are kept beside it, so that a later run can still block on what the person looked like before a change.
SELECT f.cpr, f.fingerprint, p.birth_date, p.sex FROM (
    SELECT cpr, CAST(sum(CAST(h AS HUGEINT)) AS VARCHAR) AS fingerprint FROM rows WHERE cpr IS NOT NULL GROUP BY cpr
) f LEFT JOIN (SELECT DISTINCT ON (cpr) cpr, birth_date, sex FROM staging.cpr_persons ORDER BY cpr, birth_date, sex) p
USING (cpr)
