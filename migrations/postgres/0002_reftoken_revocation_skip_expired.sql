-- RefToken revocation notifications, step 2: no notification for deleting a grant that has
-- already expired. Apply after 0001_reftoken_revocation_notify.sql:
--     psql "$URL" -v ON_ERROR_STOP=1 -f migrations/postgres/0002_reftoken_revocation_skip_expired.sql
-- Undo: 0002_reftoken_revocation_skip_expired.down.sql (back to 0001's behaviour).
--
-- Why: token cleanup (`reftoken cleanup`, IdentityServer's TokenCleanupService) deletes
-- expired rows by the hundred thousand; with 0001 alone each of them is a pg_notify, which
-- serialises the cleanup's commits on the notification queue and sends every listener a
-- flood of keys it has nothing to do with.
--
-- Why it is safe: IdentityServer writes "Expiration" = CreationTime + Lifetime, the moment its
-- token expires, and every RefToken validator refuses an expired token whether it is cached
-- or not (a cache entry lives no longer than its token). A row whose "Expiration" is past
-- therefore validates nowhere, and evicting it would change no answer. The margin of one
-- minute covers clocks of validator nodes that run behind the database's: rows that expired
-- within the last minute are still notified. Rows without an "Expiration" are always
-- notified, and so is every UPDATE and TRUNCATE, as in 0001.
--
-- It replaces the trigger function only; the triggers, their channel arguments and the
-- TRUNCATE function of 0001 stay as they are. Idempotent.

BEGIN;

SET LOCAL client_min_messages = warning;

CREATE OR REPLACE FUNCTION reftoken_notify_grant_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    channel text := COALESCE(TG_ARGV[0], 'reftoken_revocations');
BEGIN
    IF TG_OP = 'DELETE' THEN
        -- Expired for a minute or more: no validator serves it (see the header).
        IF OLD."Key" IS NOT NULL
           AND NOT (OLD."Expiration" IS NOT NULL
                    AND OLD."Expiration" < statement_timestamp() - interval '1 minute') THEN
            PERFORM pg_notify(channel, OLD."Key");
        END IF;
        RETURN OLD;
    END IF;
    -- Duende 6+ allows a NULL "Key" (server-side sessions use other tables); nothing to evict.
    IF OLD."Key" IS NOT NULL THEN
        PERFORM pg_notify(channel, OLD."Key");
    END IF;
    IF NEW."Key" IS NOT NULL AND NEW."Key" IS DISTINCT FROM OLD."Key" THEN
        PERFORM pg_notify(channel, NEW."Key");
    END IF;
    RETURN NEW;
END
$$;

COMMIT;
