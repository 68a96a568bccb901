-- Credentials of three kinds in one table: long-lived API keys, and the access and refresh tokens
-- of password logins. A revoked key stays listed (inactive) until deleted.
ALTER TABLE api_keys ADD COLUMN kind TEXT NOT NULL DEFAULT 'api_key';
ALTER TABLE api_keys ADD COLUMN revoked_at BIGINT;
ALTER TABLE api_keys ADD COLUMN last_used_at BIGINT;
CREATE INDEX api_keys_user_idx ON api_keys (user_id);
CREATE INDEX users_email_lower_idx ON users (email_lower);
