-- RefToken revocation notifications for Duende IdentityServer's operational store
-- (Entity Framework Core with Npgsql: table "PersistedGrants").
--
-- After this migration, every DELETE of a "PersistedGrants" row, and every UPDATE that
-- changes a row, sends the row's store key ("Key") with pg_notify on the channel
-- `reftoken_revocations` when the transaction commits. A TRUNCATE sends `*` ("forget
-- everything"). RefToken listeners (`reftoken::revocation::postgres`,
-- `reftoken_revocation_listener_start_postgres`, `reftoken watch --postgres URL`) LISTEN on
-- that channel and evict the key from their validators' caches.
--
-- Only the key is sent, never "Data" or any other column. A key is the SHA-256 of the
-- handle (hex or base64), so whoever can LISTEN (any role that can connect to this
-- database) learns nothing that validates. Notifications stay within this database: the
-- listeners must connect to the database that holds "PersistedGrants".
--
-- Apply it with psql (or as raw SQL in an EF Core migration: migrationBuilder.Sql(...)),
-- in the schema that holds the table, e.g.:
--     psql "$URL" -v ON_ERROR_STOP=1 -f migrations/postgres/0001_reftoken_revocation_notify.sql
-- For a schema other than the search path's first, run `SET search_path TO <schema>;` first.
-- It is idempotent: running it again replaces the functions and triggers.
-- Another channel: change the argument of the three CREATE TRIGGER statements (listeners
-- take the channel as an option; at most 63 bytes).
-- Undo: 0001_reftoken_revocation_notify.down.sql.
--
-- Cost: one pg_notify per affected row (identical keys within one transaction are sent
-- once). Transactions that notify serialise briefly on the notification queue at commit.
-- IdentityServer's token cleanup deletes expired grants in batches; each batch notifies
-- its keys, which evicts nothing that is still cached (expired tokens are not cached).
-- Supported: PostgreSQL 11 and later (EXECUTE FUNCTION).

BEGIN;

SET LOCAL client_min_messages = warning;

CREATE OR REPLACE FUNCTION reftoken_notify_grant_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    channel text := COALESCE(TG_ARGV[0], 'reftoken_revocations');
BEGIN
    -- Duende 6+ allows a NULL "Key" (server-side sessions use other tables); nothing to evict.
    IF OLD."Key" IS NOT NULL THEN
        PERFORM pg_notify(channel, OLD."Key");
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF NEW."Key" IS NOT NULL AND NEW."Key" IS DISTINCT FROM OLD."Key" THEN
            PERFORM pg_notify(channel, NEW."Key");
        END IF;
        RETURN NEW;
    END IF;
    RETURN OLD;
END
$$;

CREATE OR REPLACE FUNCTION reftoken_notify_grants_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(COALESCE(TG_ARGV[0], 'reftoken_revocations'), '*');
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS reftoken_revocation_on_delete ON "PersistedGrants";
CREATE TRIGGER reftoken_revocation_on_delete
    AFTER DELETE ON "PersistedGrants"
    FOR EACH ROW
    EXECUTE FUNCTION reftoken_notify_grant_changed('reftoken_revocations');

DROP TRIGGER IF EXISTS reftoken_revocation_on_update ON "PersistedGrants";
CREATE TRIGGER reftoken_revocation_on_update
    AFTER UPDATE ON "PersistedGrants"
    FOR EACH ROW
    WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION reftoken_notify_grant_changed('reftoken_revocations');

DROP TRIGGER IF EXISTS reftoken_revocation_on_truncate ON "PersistedGrants";
CREATE TRIGGER reftoken_revocation_on_truncate
    AFTER TRUNCATE ON "PersistedGrants"
    FOR EACH STATEMENT
    EXECUTE FUNCTION reftoken_notify_grants_truncated('reftoken_revocations');

COMMIT;
