-- Undoes 0002_reftoken_revocation_skip_expired.sql: the trigger function of 0001 again, which
-- notifies every deleted row, expired or not.

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

COMMIT;
