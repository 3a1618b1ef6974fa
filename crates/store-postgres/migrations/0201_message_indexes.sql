-- Inbox listings filtered by state (the client's "new messages" view) read only the matching
-- rows instead of walking the office's whole history; the relay's orphan-blob sweep looks
-- rows up by blob key.
CREATE INDEX messages_inbox_state ON messages (recipient, state, id);
CREATE INDEX messages_blob_key ON messages (blob_key);
