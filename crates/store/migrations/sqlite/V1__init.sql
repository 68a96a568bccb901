-- usher schema, SQLite. Times are nanoseconds since the Unix epoch (INTEGER); booleans 0/1;
-- JSON as TEXT. Table, column and constraint names match migrations/postgres.

CREATE TABLE organizations (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    modified_at INTEGER NOT NULL
);

CREATE TABLE users (
    id                            INTEGER PRIMARY KEY,
    organization_id               INTEGER NOT NULL REFERENCES organizations (id),
    username                      TEXT    NOT NULL,
    first_name                    TEXT,
    last_name                     TEXT,
    nick_name                     TEXT,
    display_name                  TEXT,
    preferred_language            TEXT,
    gender                        TEXT    NOT NULL DEFAULT 'UNSPECIFIED',
    email                         TEXT,
    email_lower                   TEXT,
    email_verified                INTEGER NOT NULL DEFAULT 0,
    email_verify_requested        INTEGER NOT NULL DEFAULT 0,
    new_email_requested           TEXT,
    phone                         TEXT,
    phone_verified                INTEGER NOT NULL DEFAULT 0,
    phone_verify_requested        INTEGER NOT NULL DEFAULT 0,
    password_hash                 TEXT,
    password_change_required      INTEGER NOT NULL DEFAULT 0,
    state                         TEXT    NOT NULL DEFAULT 'INITIAL',
    super_user                    INTEGER NOT NULL DEFAULT 0,
    roles                         TEXT    NOT NULL DEFAULT '["ROLE_USER"]',
    external_id                   TEXT,
    client_id                     INTEGER,
    description                   TEXT,
    remarks                       TEXT,
    auto_remove_after             TEXT,
    auto_remove_date              INTEGER,
    auto_email_match              INTEGER NOT NULL DEFAULT 0,
    require_email_match           INTEGER NOT NULL DEFAULT 0,
    email_match_credential_filter INTEGER NOT NULL DEFAULT 0,
    auth_organization_id          TEXT,
    attributes                    TEXT    NOT NULL DEFAULT '{}',
    sequence                      INTEGER NOT NULL,
    created_at                    INTEGER NOT NULL,
    modified_at                   INTEGER NOT NULL
);
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE UNIQUE INDEX users_org_email_key ON users (organization_id, email_lower);
CREATE UNIQUE INDEX users_org_phone_no_email_key ON users (organization_id, phone) WHERE email_lower IS NULL;
CREATE INDEX users_org_external_id_idx ON users (organization_id, external_id);
CREATE INDEX users_org_first_name_idx ON users (organization_id, first_name);
CREATE INDEX users_org_last_name_idx ON users (organization_id, last_name);
CREATE INDEX users_org_created_at_idx ON users (organization_id, created_at);
CREATE INDEX users_auto_remove_date_idx ON users (auto_remove_date) WHERE auto_remove_date IS NOT NULL;

CREATE TABLE invitations (
    user_id     INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    token       TEXT    NOT NULL,
    expires_at  INTEGER NOT NULL,
    language    TEXT    NOT NULL,
    email       TEXT,
    phone       TEXT,
    sent_email  INTEGER NOT NULL DEFAULT 0,
    sent_sms    INTEGER NOT NULL DEFAULT 0,
    accepted_at INTEGER,
    created_at  INTEGER NOT NULL
);
CREATE UNIQUE INDEX invitations_token_key ON invitations (token);

CREATE TABLE user_groups (
    id              INTEGER PRIMARY KEY,
    organization_id INTEGER NOT NULL REFERENCES organizations (id),
    name            TEXT    NOT NULL,
    description     TEXT,
    remarks         TEXT,
    external_id     TEXT,
    created_at      INTEGER NOT NULL,
    modified_at     INTEGER NOT NULL
);
CREATE INDEX user_groups_org_name_idx ON user_groups (organization_id, name);

CREATE TABLE user_group_members (
    group_id    INTEGER NOT NULL REFERENCES user_groups (id) ON DELETE CASCADE,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    group_admin INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX user_group_members_user_idx ON user_group_members (user_id);

CREATE TABLE api_keys (
    id              INTEGER PRIMARY KEY,
    name            TEXT    NOT NULL,
    organization_id INTEGER REFERENCES organizations (id),
    user_id         INTEGER REFERENCES users (id) ON DELETE CASCADE,
    secret_hash     TEXT    NOT NULL,
    read_only       INTEGER NOT NULL DEFAULT 0,
    instance_admin  INTEGER NOT NULL DEFAULT 0,
    expires_at      INTEGER,
    created_at      INTEGER NOT NULL
);
CREATE UNIQUE INDEX api_keys_secret_hash_key ON api_keys (secret_hash);

CREATE TABLE one_time_codes (
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT    NOT NULL,
    code_hash  TEXT    NOT NULL,
    target     TEXT,
    expires_at INTEGER NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, purpose)
);

-- Audit events outlive their subject: no foreign keys.
CREATE TABLE audit_events (
    id              INTEGER PRIMARY KEY,
    organization_id INTEGER,
    subject_type    TEXT    NOT NULL,
    subject_id      INTEGER NOT NULL,
    sequence        INTEGER,
    event_type      TEXT    NOT NULL,
    actor           TEXT    NOT NULL,
    fields          TEXT    NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE INDEX audit_events_subject_idx ON audit_events (subject_type, subject_id, id);

CREATE TABLE outbox_messages (
    id              TEXT    PRIMARY KEY,
    channel         TEXT    NOT NULL,
    template        TEXT    NOT NULL,
    language        TEXT    NOT NULL,
    recipient       TEXT    NOT NULL,
    user_id         INTEGER,
    params          TEXT    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    sent_at         INTEGER,
    created_at      INTEGER NOT NULL
);
CREATE INDEX outbox_messages_due_idx ON outbox_messages (status, next_attempt_at);
CREATE INDEX outbox_messages_user_idx ON outbox_messages (user_id);
