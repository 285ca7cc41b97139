-- A batch of audit entries appended to the chain in one statement, so that a batch costs one
-- round trip to the database instead of five (begin, the chain's lock, its head, the rows,
-- commit). The server still owns what is hashed: it sends each entry's hashed text without
-- its sequence number (`audit::chain_text_after_seq`), and this function only prefixes the
-- number it assigns and chains the hashes, exactly as `audit::chain_hash` does.
--
-- `lock_key` is the chain's advisory lock (`store::postgres::AUDIT_CHAIN_LOCK`), held to the
-- end of the calling transaction. The head is read by a statement after the lock is granted:
-- a VOLATILE function's statements each take a fresh snapshot under READ COMMITTED, so the
-- head includes every append committed before this one could proceed. Returns the first
-- entry's sequence number; the rest follow it in order.
CREATE FUNCTION audit_chain_append(
    lock_key      bigint,
    texts         bytea[],
    ats           timestamptz[],
    actor_ids     text[],
    actor_roles   text[],
    on_behalf_ofs text[],
    subject_ids   uuid[],
    resources     text[],
    actions       text[],
    outcomes      text[],
    relationships text[],
    request_ids   text[],
    vias          text[],
    read_ats      timestamptz[]
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    head_seq    bigint;
    head_hash   bytea;
    prev_hashes bytea[] := '{}';
    hashes      bytea[] := '{}';
BEGIN
    PERFORM pg_advisory_xact_lock(lock_key);
    SELECT seq, hash INTO head_seq, head_hash FROM audit_log ORDER BY seq DESC LIMIT 1;
    IF NOT FOUND THEN
        -- The genesis entry's predecessor (`audit::GENESIS_HASH`).
        head_seq := 0;
        head_hash := decode(repeat('00', 32), 'hex');
    END IF;
    FOR i IN 1 .. coalesce(array_length(texts, 1), 0) LOOP
        prev_hashes[i] := head_hash;
        head_hash := sha256(head_hash || convert_to('[' || (head_seq + i)::text || ',', 'UTF8')
                                      || texts[i]);
        hashes[i] := head_hash;
    END LOOP;
    INSERT INTO audit_log (seq, at, actor_id, actor_role, on_behalf_of, subject_id, resource,
                           action, outcome, relationship, request_id, via, read_at,
                           prev_hash, hash)
    SELECT head_seq + entry.n, entry.at, entry.actor_id, entry.actor_role, entry.on_behalf_of,
           entry.subject_id, entry.resource, entry.action, entry.outcome, entry.relationship,
           entry.request_id, entry.via, entry.read_at, entry.prev_hash, entry.hash
    FROM unnest(ats, actor_ids, actor_roles, on_behalf_ofs, subject_ids, resources, actions,
                outcomes, relationships, request_ids, vias, read_ats, prev_hashes, hashes)
         WITH ORDINALITY
         AS entry(at, actor_id, actor_role, on_behalf_of, subject_id, resource, action,
                  outcome, relationship, request_id, via, read_at, prev_hash, hash, n);
    RETURN head_seq + 1;
END
$$;
