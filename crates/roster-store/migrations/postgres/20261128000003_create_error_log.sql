-- E1: every failed sign-in or SCIM request of a connection, for its admins.
CREATE TABLE error_log (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    connection_id TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    at            BIGINT NOT NULL,
    kind          TEXT NOT NULL,
    request       TEXT NOT NULL,
    status        BIGINT NOT NULL,
    code          TEXT,
    detail        TEXT NOT NULL,
    trace_id      TEXT NOT NULL
);
CREATE INDEX error_log_connection ON error_log(connection_id, seq);
