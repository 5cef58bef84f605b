-- Member lists filtered by an email prefix (the console) read the unique index on
-- email_key by range: SQLite compares text in binary order, so a prefix is a range of
-- it, and no other index is needed (PostgreSQL adds one for LIKE).
SELECT 1;
