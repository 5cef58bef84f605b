-- A SCIM User is created unlinked and linked to its account in the same transaction:
-- with the index on user_id holding only linked rows, that is one index entry written
-- instead of an entry for NULL removed again. Lookups by account (and the ON DELETE
-- SET NULL from users) compare user_id with a value, which implies NOT NULL.
DROP INDEX scim_users_user;
CREATE INDEX scim_users_user ON scim_users(user_id) WHERE user_id IS NOT NULL;
