-- A send batch takes the next numbers of every conversation it writes to in one statement,
-- where it was one round trip a conversation (`store::messages::store_new_sends`; on SQLite it
-- still is one statement a conversation, each a hop to its thread).
--
-- `ids` are the conversations in the order to lock them (ascending, as every send batch locks
-- them, so that batches of different processes cannot deadlock), `counts` how many numbers each
-- takes, `newest` the time of its newest message. Each conversation's row is locked by its
-- `UPDATE` until the calling transaction ends, one after the other in the order given. The
-- result is one row for each conversation that exists: its last number after the take, and when
-- it last sent an out-of-hours notice.
CREATE FUNCTION conversations_take_numbers(
    ids    uuid[],
    counts bigint[],
    newest timestamptz[]
) RETURNS TABLE (conversation_id uuid, last_seq_taken bigint, last_notice_sent_at timestamptz)
LANGUAGE plpgsql AS $$
BEGIN
    FOR nth IN 1 .. coalesce(array_length(ids, 1), 0) LOOP
        RETURN QUERY
            UPDATE conversations AS c
            SET last_seq = c.last_seq + counts[nth], last_message_at = newest[nth]
            WHERE c.id = ids[nth]
            RETURNING c.id, c.last_seq, c.last_notice_at;
    END LOOP;
END
$$;
