-- Phones that get pushes: a device's push token (from APNs or FCM), held for the session it
-- signed in with. Pushes go only to devices whose session is live, so signing out, a password
-- reset or a disabled account stop them at once; the app removes its token at sign-out too.
CREATE TABLE devices (
    token      text PRIMARY KEY,
    platform   text NOT NULL,
    user_id    uuid NOT NULL REFERENCES users(id),
    session_id uuid NOT NULL REFERENCES sessions(id),
    created_at timestamptz NOT NULL
);
CREATE INDEX devices_user ON devices(user_id);
CREATE INDEX devices_session ON devices(session_id);
