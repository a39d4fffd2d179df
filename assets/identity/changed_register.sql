-- target: id_changed_register (a temporary table of the identity run)
-- description: The register persons whose register data (row, earlier names, earlier addresses) changed since the last link, who are new, or who left the register: their records are linked again and their normalised names and addresses redone. Reads id_reg_fp (register_fingerprints.sql).
SELECT cpr FROM (
    SELECT cpr, fingerprint FROM id_reg_fp
    EXCEPT SELECT cpr, fingerprint FROM identity.register_fingerprints
)
UNION
SELECT cpr FROM (
    SELECT cpr, fingerprint FROM identity.register_fingerprints
    EXCEPT SELECT cpr, fingerprint FROM id_reg_fp
)
