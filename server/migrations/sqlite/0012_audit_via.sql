-- How a read reached the reader, when not by a request for that record: `sync` (delivered in a
-- phone's sync) or `offline` (served from a phone's store without a network, uploaded later,
-- with `read_at` the moment it was shown). Both are covered by the entry's hash when set.
ALTER TABLE audit_log ADD COLUMN via text;
ALTER TABLE audit_log ADD COLUMN read_at TEXT;
