-- Retention expires every message not acknowledged by its expiry time: unread ones and ones
-- downloaded but never acknowledged (so each message reaches exactly one final state).
DROP INDEX messages_unread_expiry;
CREATE INDEX messages_open_expiry ON messages (expires_at) WHERE state IN ('stored', 'downloaded');
