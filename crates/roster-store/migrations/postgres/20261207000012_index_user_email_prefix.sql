-- Member lists filtered by an email prefix (the console) read this index by range,
-- whatever the database's collation.
CREATE INDEX users_email_prefix ON users (email_key text_pattern_ops);
