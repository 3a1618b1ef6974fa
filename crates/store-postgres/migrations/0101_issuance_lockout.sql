-- A separate failure counter and lock for the 証明書発行用パスワード, so that wrong issuance
-- passwords (which anyone who knows a KJ ID can send) never lock the office's KJ login.

ALTER TABLE kj_accounts ADD COLUMN issuance_failures BIGINT NOT NULL DEFAULT 0;
ALTER TABLE kj_accounts ADD COLUMN issuance_locked_until BIGINT;
