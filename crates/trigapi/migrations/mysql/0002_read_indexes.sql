-- Indexes every read endpoint needs to stay fast on the full-size data set. The only change
-- trigapi makes to a legacy database, and only through `trigapi migrate`.
CREATE INDEX IF NOT EXISTS ix_trig_waypoint ON trig (waypoint);
CREATE INDEX IF NOT EXISTS ix_trig_lat_long ON trig (wgs_lat, wgs_long);
CREATE INDEX IF NOT EXISTS ix_trig_physical_type ON trig (physical_type, id);
CREATE INDEX IF NOT EXISTS ix_trig_name ON trig (name, id);
CREATE INDEX IF NOT EXISTS ix_tlog_recent ON tlog (date, time, id);
CREATE INDEX IF NOT EXISTS ix_tlog_trig ON tlog (trig_id, date, time, id);
CREATE INDEX IF NOT EXISTS ix_tlog_user ON tlog (user_id, date, time, id);
CREATE INDEX IF NOT EXISTS ix_tlog_upd ON tlog (upd_timestamp);
CREATE INDEX IF NOT EXISTS ix_tphoto_tlog ON tphoto (tlog_id, id);
CREATE INDEX IF NOT EXISTS ix_tphoto_live ON tphoto (deleted_ind, id);
CREATE INDEX IF NOT EXISTS ix_user_name ON `user` (name);
CREATE INDEX IF NOT EXISTS ix_user_crt_date ON `user` (crt_date);
CREATE INDEX IF NOT EXISTS ix_user_auth0 ON `user` (auth0_user_id);
CREATE INDEX IF NOT EXISTS ix_attrset_trig ON attrset (trig_id);
