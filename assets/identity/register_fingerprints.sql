-- target: id_reg_fp (a temporary table of the identity run)
-- description: Per register person, a hash of its register rows, its earlier names and its earlier addresses: what a record's link to that person is judged against.
WITH rows AS (
    SELECT cpr, 'p' || CAST(to_json(struct_pack(given_name, family_name, birth_date, sex, address, postcode)) AS VARCHAR) AS j
    FROM staging.cpr_persons
    UNION ALL
    SELECT cpr, 'n' || CAST(to_json(struct_pack(given_name, family_name)) AS VARCHAR) FROM staging.cpr_name_history
    UNION ALL
    SELECT cpr, 'a' || CAST(to_json(struct_pack(address, postcode)) AS VARCHAR) FROM staging.cpr_address_history
)
SELECT cpr, md5(string_agg(j, '|' ORDER BY j)) AS fingerprint FROM rows WHERE cpr IS NOT NULL GROUP BY cpr
