-- usher schema, PostgreSQL. Times are nanoseconds since the Unix epoch (BIGINT) so both backends
-- keep the same precision; JSON as JSONB. Names match migrations/sqlite.

CREATE SEQUENCE organizations_id_seq;
CREATE SEQUENCE users_id_seq;
CREATE SEQUENCE user_groups_id_seq;
CREATE SEQUENCE api_keys_id_seq;

CREATE TABLE organizations (
    id          BIGINT PRIMARY KEY DEFAULT nextval('organizations_id_seq'),
    name        TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    modified_at BIGINT NOT NULL
);

CREATE TABLE users (
    id                            BIGINT  PRIMARY KEY DEFAULT nextval('users_id_seq'),
    organization_id               BIGINT  NOT NULL REFERENCES organizations (id),
    username                      TEXT    NOT NULL,
    first_name                    TEXT,
    last_name                     TEXT,
    nick_name                     TEXT,
    display_name                  TEXT,
    preferred_language            TEXT,
    gender                        TEXT    NOT NULL DEFAULT 'UNSPECIFIED',
    email                         TEXT,
    email_lower                   TEXT,
    email_verified                BOOLEAN NOT NULL DEFAULT FALSE,
    email_verify_requested        BOOLEAN NOT NULL DEFAULT FALSE,
    new_email_requested           TEXT,
    phone                         TEXT,
    phone_verified                BOOLEAN NOT NULL DEFAULT FALSE,
    phone_verify_requested        BOOLEAN NOT NULL DEFAULT FALSE,
    password_hash                 TEXT,
    password_change_required      BOOLEAN NOT NULL DEFAULT FALSE,
    state                         TEXT    NOT NULL DEFAULT 'INITIAL',
    super_user                    BOOLEAN NOT NULL DEFAULT FALSE,
    roles                         JSONB   NOT NULL DEFAULT '["ROLE_USER"]',
    external_id                   TEXT,
    client_id                     BIGINT,
    description                   TEXT,
    remarks                       TEXT,
    auto_remove_after             TEXT,
    auto_remove_date              BIGINT,
    auto_email_match              BOOLEAN NOT NULL DEFAULT FALSE,
    require_email_match           BOOLEAN NOT NULL DEFAULT FALSE,
    email_match_credential_filter BOOLEAN NOT NULL DEFAULT FALSE,
    auth_organization_id          TEXT,
    attributes                    JSONB   NOT NULL DEFAULT '{}',
    sequence                      BIGINT  NOT NULL,
    created_at                    BIGINT  NOT NULL,
    modified_at                   BIGINT  NOT NULL
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
    user_id     BIGINT  PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    token       TEXT    NOT NULL,
    expires_at  BIGINT  NOT NULL,
    language    TEXT    NOT NULL,
    email       TEXT,
    phone       TEXT,
    sent_email  BOOLEAN NOT NULL DEFAULT FALSE,
    sent_sms    BOOLEAN NOT NULL DEFAULT FALSE,
    accepted_at BIGINT,
    created_at  BIGINT  NOT NULL
);
CREATE UNIQUE INDEX invitations_token_key ON invitations (token);

CREATE TABLE user_groups (
    id              BIGINT PRIMARY KEY DEFAULT nextval('user_groups_id_seq'),
    organization_id BIGINT NOT NULL REFERENCES organizations (id),
    name            TEXT   NOT NULL,
    description     TEXT,
    remarks         TEXT,
    external_id     TEXT,
    created_at      BIGINT NOT NULL,
    modified_at     BIGINT NOT NULL
);
CREATE INDEX user_groups_org_name_idx ON user_groups (organization_id, name);

CREATE TABLE user_group_members (
    group_id    BIGINT  NOT NULL REFERENCES user_groups (id) ON DELETE CASCADE,
    user_id     BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    group_admin BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX user_group_members_user_idx ON user_group_members (user_id);

CREATE TABLE api_keys (
    id              BIGINT  PRIMARY KEY DEFAULT nextval('api_keys_id_seq'),
    name            TEXT    NOT NULL,
    organization_id BIGINT REFERENCES organizations (id),
    user_id         BIGINT REFERENCES users (id) ON DELETE CASCADE,
    secret_hash     TEXT    NOT NULL,
    read_only       BOOLEAN NOT NULL DEFAULT FALSE,
    instance_admin  BOOLEAN NOT NULL DEFAULT FALSE,
    expires_at      BIGINT,
    created_at      BIGINT  NOT NULL
);
CREATE UNIQUE INDEX api_keys_secret_hash_key ON api_keys (secret_hash);

CREATE TABLE one_time_codes (
    user_id    BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT    NOT NULL,
    code_hash  TEXT    NOT NULL,
    target     TEXT,
    expires_at BIGINT  NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT  NOT NULL,
    PRIMARY KEY (user_id, purpose)
);

-- Audit events outlive their subject: no foreign keys.
CREATE TABLE audit_events (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id BIGINT,
    subject_type    TEXT   NOT NULL,
    subject_id      BIGINT NOT NULL,
    sequence        BIGINT,
    event_type      TEXT   NOT NULL,
    actor           TEXT   NOT NULL,
    fields          JSONB  NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX audit_events_subject_idx ON audit_events (subject_type, subject_id, id);

CREATE TABLE outbox_messages (
    id              TEXT    PRIMARY KEY,
    channel         TEXT    NOT NULL,
    template        TEXT    NOT NULL,
    language        TEXT    NOT NULL,
    recipient       TEXT    NOT NULL,
    user_id         BIGINT,
    params          JSONB   NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL,
    last_error      TEXT,
    sent_at         BIGINT,
    created_at      BIGINT  NOT NULL
);
CREATE INDEX outbox_messages_due_idx ON outbox_messages (status, next_attempt_at);
CREATE INDEX outbox_messages_user_idx ON outbox_messages (user_id);
