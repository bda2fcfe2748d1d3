-- Undoes 0001_reftoken_revocation_notify.sql: no more revocation notifications. Listeners
-- keep running and fall back to their caches' TTL.

BEGIN;
DROP TRIGGER IF EXISTS reftoken_revocation_on_delete ON "PersistedGrants";
DROP TRIGGER IF EXISTS reftoken_revocation_on_update ON "PersistedGrants";
DROP TRIGGER IF EXISTS reftoken_revocation_on_truncate ON "PersistedGrants";
DROP FUNCTION IF EXISTS reftoken_notify_grant_changed();
DROP FUNCTION IF EXISTS reftoken_notify_grants_truncated();
COMMIT;
