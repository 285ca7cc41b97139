-- Token signing keys are sealed at rest and rotated (see server/src/auth/sealing.rs and
-- key_ring.rs). Rows written before this migration hold plain PKCS#8 DER: the server seals them
-- in place at its next start, since only it has the key-encryption key. A key keeps its sealed
-- bytes until it is retired, and holds none afterwards.
ALTER TABLE signing_keys RENAME COLUMN private_der TO sealed_private_key;
ALTER TABLE signing_keys ALTER COLUMN sealed_private_key DROP NOT NULL;
-- Set when a newer key takes over signing: once every token this key signed has expired.
ALTER TABLE signing_keys ADD COLUMN retire_after timestamptz;
ALTER TABLE signing_keys ADD COLUMN retired_at timestamptz;
ALTER TABLE signing_keys ADD CONSTRAINT signing_keys_retired_hold_no_key
    CHECK ((sealed_private_key IS NULL) = (retired_at IS NOT NULL));
