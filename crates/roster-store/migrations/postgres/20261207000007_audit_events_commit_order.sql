-- The events feed reads the audit log in commit order. On PostgreSQL writes run in
-- parallel transactions, so `seq` (taken at insert) is not commit order: each event also
-- records its transaction id, and the feed reads by (tx, seq) only what every
-- transaction older than the oldest one still running has committed (a snapshot's xmin).
ALTER TABLE audit_events ADD COLUMN tx BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint);
CREATE INDEX audit_events_feed ON audit_events(tx, seq);
