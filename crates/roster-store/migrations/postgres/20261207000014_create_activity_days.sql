-- Sign-ins and SCIM changes per company per UTC day, for the console's 30-day chart.
-- Rolled up from the audit log in the background, off the request path: the log is
-- read in commit order after `activity_cursor` (one row), and the counts and the
-- cursor move in one transaction, so every event is counted once.
CREATE TABLE activity_days (
    day          BIGINT NOT NULL,
    company_id   TEXT NOT NULL,
    sign_ins     BIGINT NOT NULL,
    scim_changes BIGINT NOT NULL,
    PRIMARY KEY (company_id, day)
);
CREATE TABLE activity_cursor (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    tx  BIGINT NOT NULL,
    seq BIGINT NOT NULL
);
