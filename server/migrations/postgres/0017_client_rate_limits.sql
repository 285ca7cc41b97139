-- Each staff system may be given its own request rate; NULL takes the deployment's default
-- (`serve --client-rate-limit`).
ALTER TABLE oauth_clients ADD COLUMN requests_per_minute bigint;
