-- Recomputing a trig's stats on every log write reads only these indexes: the trig's logs
-- (date, score, condition) and its logs' live photos.
CREATE INDEX IF NOT EXISTS ix_tlog_trig_stats ON tlog (trig_id, date, score, `condition`);
CREATE INDEX IF NOT EXISTS ix_tphoto_tlog_deleted ON tphoto (tlog_id, deleted_ind);
