-- Token signing keys are sealed at rest and rotated (see server/src/auth/sealing.rs and
-- key_ring.rs). Rows written before this migration hold plain PKCS#8 DER: the server seals them
-- in place at its next start, since only it has the key-encryption key. A key keeps its sealed
-- bytes until it is retired, and holds none afterwards. SQLite cannot relax NOT NULL in place,
-- so the table is rebuilt; nothing refers to it.
CREATE TABLE signing_keys_sealed (
    kid                text PRIMARY KEY,
    sealed_private_key BLOB,
    created_at         TEXT NOT NULL,
    -- Set when a newer key takes over signing: once every token this key signed has expired.
    retire_after       TEXT,
    retired_at         TEXT,
    CHECK ((sealed_private_key IS NULL) = (retired_at IS NOT NULL))
);

INSERT INTO signing_keys_sealed (kid, sealed_private_key, created_at)
SELECT kid, private_der, created_at FROM signing_keys;

DROP TABLE signing_keys;

ALTER TABLE signing_keys_sealed RENAME TO signing_keys;
