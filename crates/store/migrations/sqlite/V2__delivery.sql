-- Delivery: outbox messages know their organization (admins list failed ones), and links carry
-- codes that are looked up by their hash.
ALTER TABLE outbox_messages ADD COLUMN organization_id INTEGER;
CREATE INDEX outbox_messages_org_status_idx ON outbox_messages (organization_id, status);
CREATE INDEX one_time_codes_code_hash_idx ON one_time_codes (code_hash);
