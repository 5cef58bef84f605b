-- Each SP-initiated sign-in is bound to the browser that started it: the hash of a
-- secret set as a cookie on that browser when the request was issued. A response
-- posted from another browser does not carry it, and is refused (no login CSRF).
-- Requests issued before this column existed have none, and can no longer be answered.
ALTER TABLE saml_requests ADD COLUMN browser_hash TEXT;
