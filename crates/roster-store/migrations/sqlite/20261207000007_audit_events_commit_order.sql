-- The events feed reads the audit log in commit order. SQLite has one writer, so `seq`
-- is commit order already; `tx` is kept for the same shape as PostgreSQL's and is 0.
ALTER TABLE audit_events ADD COLUMN tx BIGINT NOT NULL DEFAULT 0;
