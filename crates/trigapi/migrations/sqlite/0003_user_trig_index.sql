-- Covers per-user stats and breakdown (distinct trigs, conditions) without touching rows.
CREATE INDEX IF NOT EXISTS ix_tlog_user_trig ON tlog (user_id, trig_id, condition);
