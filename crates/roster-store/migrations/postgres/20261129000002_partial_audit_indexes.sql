-- Audit events are listed by one of these columns; an event without a value there is
-- never found through it, so it gets no index entry (a SCIM create records five events
-- and most leave one or more of them empty).
DROP INDEX audit_events_company;
DROP INDEX audit_events_org;
DROP INDEX audit_events_connection;
DROP INDEX audit_events_user;
CREATE INDEX audit_events_company ON audit_events(company_id, seq) WHERE company_id IS NOT NULL;
CREATE INDEX audit_events_org ON audit_events(organization_id, seq) WHERE organization_id IS NOT NULL;
CREATE INDEX audit_events_connection ON audit_events(connection_id, seq) WHERE connection_id IS NOT NULL;
CREATE INDEX audit_events_user ON audit_events(user_id, seq) WHERE user_id IS NOT NULL;
