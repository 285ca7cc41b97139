-- Accounts and teams found by their key written as text: an audit entry's actor, a plan's
-- author, an activation's opener and closer, and the team a location names are stored as text
-- (an actor may be a staff system, `client:…`), and a read joins the account or team to them by
-- `CAST(id AS text)` (`Backend::key_is_id_in_text`). Without these, that join reads every row.
CREATE INDEX users_id_as_text ON users ((CAST(id AS text)));
CREATE INDEX teams_id_as_text ON teams ((CAST(id AS text)));
