-- A consent goes to a linked carer or to the person's allocated peer worker (SPEC §2: the
-- crisis plan "read if shared", the enablement plan "summary if shared"). The account column
-- keeps its index; the role says which relationship the consent rides on.
ALTER TABLE consents RENAME COLUMN carer_id TO grantee_id;
ALTER TABLE consents ADD COLUMN grantee_role text NOT NULL DEFAULT 'carer'
    CHECK (grantee_role IN ('carer', 'peer_worker'));
