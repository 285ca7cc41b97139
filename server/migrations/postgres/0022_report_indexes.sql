-- The performance report over every team reads windows of time with no team to narrow them:
-- these let it read only the period (the per-team reads use the indexes of 0019).
CREATE INDEX referrals_received ON referrals(received_at);
CREATE INDEX caseload_history_ended ON caseload_history(ended_at);
CREATE INDEX satisfaction_ratings_rated ON satisfaction_ratings(rated_at);
