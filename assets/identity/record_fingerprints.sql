-- target: id_fp (a temporary table of the identity run)
-- description: Per person record, a 64-bit hash of every field the matcher reads (the CPR number and its status, names, birth date, sex, address, postcode, and whether the record is the register's own). A record whose hash is unchanged since its last link, and whose register person is unchanged, gives the same result again. Parameters: $register, $register_table (the person register's source and table).
SELECT source, source_table, record_id,
       CAST(hash(national_id, national_id_status, given_name, family_name, birth_date, sex, address, postcode,
                 source = $register AND source_table = $register_table) AS VARCHAR) AS fingerprint
FROM staging.person_records
