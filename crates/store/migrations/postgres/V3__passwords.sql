-- Passwords: when one was last set, and failed checks (for lockout after repeated failures).
ALTER TABLE users ADD COLUMN password_changed_at BIGINT;
ALTER TABLE users ADD COLUMN failed_password_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN password_locked_until BIGINT;
