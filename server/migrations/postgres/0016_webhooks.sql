-- Webhooks (server/src/service/webhooks): a staff system's subscriptions to kinds of event,
-- and one delivery per event and subscription, written in the transaction of the write the
-- event announces, so a delivery is never lost to a stopped server.
CREATE TABLE webhook_subscriptions (
    id              uuid PRIMARY KEY,
    client_id       text NOT NULL REFERENCES oauth_clients(client_id),
    url             text NOT NULL,
    -- The signing secret, sealed under the key-encryption key (never stored in the clear).
    sealed_secret   bytea NOT NULL,
    created_at      timestamptz NOT NULL,
    disabled_at     timestamptz,
    disabled_reason text
);
CREATE INDEX webhook_subscriptions_client ON webhook_subscriptions(client_id, id);

CREATE TABLE webhook_subscription_kinds (
    subscription_id uuid NOT NULL REFERENCES webhook_subscriptions(id) ON DELETE CASCADE,
    kind            text NOT NULL,
    PRIMARY KEY (subscription_id, kind)
);
CREATE INDEX webhook_subscription_kinds_kind ON webhook_subscription_kinds(kind);

-- `id` is the `webhook-id` of every attempt. `lease_until` is set while one process sends it,
-- so two processes on one database never both do.
CREATE TABLE webhook_deliveries (
    id              uuid PRIMARY KEY,
    subscription_id uuid NOT NULL REFERENCES webhook_subscriptions(id) ON DELETE CASCADE,
    event_id        uuid NOT NULL,
    kind            text NOT NULL,
    payload         text NOT NULL,
    created_at      timestamptz NOT NULL,
    state           text NOT NULL,
    attempts        jsonb NOT NULL,
    next_attempt_at timestamptz,
    lease_until     timestamptz,
    delivered_at    timestamptz
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at)
    WHERE state = 'pending';
CREATE INDEX webhook_deliveries_subscription ON webhook_deliveries(subscription_id, id);
