-- The audit event id (a time-ordered UUID, never looked up) loses its UNIQUE index,
-- as on SQLite: events are found by `seq` and by the four list indexes.
ALTER TABLE audit_events DROP CONSTRAINT audit_events_id_key;
