-- Audit events keep their order by `seq` alone. `seq` becomes a plain INTEGER PRIMARY
-- KEY (the row id): events are never deleted, so the next one always takes the largest
-- plus one, and AUTOINCREMENT's bookkeeping table is not written on every insert. The
-- event id (a time-ordered UUID, never looked up) loses its UNIQUE index. Each SCIM
-- create records five events: this drops five of their thirty b-tree inserts.
CREATE TABLE audit_events_rowid (
    seq             INTEGER PRIMARY KEY,
    id              TEXT NOT NULL,
    at              BIGINT NOT NULL,
    actor_kind      TEXT NOT NULL,
    actor_id        TEXT,
    action          TEXT NOT NULL,
    object_kind     TEXT NOT NULL,
    object_id       TEXT NOT NULL,
    company_id      TEXT,
    organization_id TEXT,
    connection_id   TEXT,
    user_id         TEXT,
    before          TEXT,
    after           TEXT,
    rule            TEXT,
    reason          TEXT,
    trace_id        TEXT NOT NULL
);
INSERT INTO audit_events_rowid (seq, id, at, actor_kind, actor_id, action, object_kind, object_id, company_id,
                                organization_id, connection_id, user_id, before, after, rule, reason, trace_id)
    SELECT seq, id, at, actor_kind, actor_id, action, object_kind, object_id, company_id, organization_id,
           connection_id, user_id, before, after, rule, reason, trace_id
    FROM audit_events;
DROP TABLE audit_events;
ALTER TABLE audit_events_rowid RENAME TO audit_events;
CREATE INDEX audit_events_company ON audit_events(company_id, seq) WHERE company_id IS NOT NULL;
CREATE INDEX audit_events_org ON audit_events(organization_id, seq) WHERE organization_id IS NOT NULL;
CREATE INDEX audit_events_connection ON audit_events(connection_id, seq) WHERE connection_id IS NOT NULL;
CREATE INDEX audit_events_user ON audit_events(user_id, seq) WHERE user_id IS NOT NULL;
