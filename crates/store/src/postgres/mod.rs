//! The shared store: PostgreSQL through tokio-postgres with a deadpool pool and cached prepared
//! statements. Several usher instances may share one database: ids come from sequences, writes
//! are guarded by the per-user sequence, and background work claims rows with `SKIP LOCKED`.

mod rows;

use std::str::FromStr;
use std::sync::LazyLock;

use futures::future::try_join_all;

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;
use tokio_postgres::types::{Json, ToSql};
use usher_core::error::{Error, Result};
use usher_core::model::*;
use usher_core::ports::*;
use usher_core::types::*;

use crate::sql::{self, Dialect, Param};
use crate::{OpenError, StoreOptions};
use rows::map_err;

mod embedded {
    refinery::embed_migrations!("migrations/postgres");
}

/// Arbitrary constant naming usher's migration lock.
const MIGRATION_LOCK: i64 = 0x7573_6865_725f_6d67;

pub struct PgStore {
    pool: Pool,
}

fn boxed(p: &Param) -> Box<dyn ToSql + Sync + Send> {
    match p {
        Param::I64(i) => Box::new(*i),
        Param::Text(s) => Box::new(s.clone()),
        Param::Bool(b) => Box::new(*b),
        Param::I64s(v) => Box::new(v.clone()),
        Param::Texts(v) => Box::new(v.clone()),
    }
}

impl PgStore {
    pub async fn open(url: &str, opts: &StoreOptions) -> Result<Self, OpenError> {
        let cfg = tokio_postgres::Config::from_str(url)
            .map_err(|e| OpenError::Postgres(e.to_string()))?;
        if opts.migrate {
            Self::migrate(url).await?;
        }
        let mgr = Manager::from_config(
            cfg,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(mgr)
            .max_size(opts.pg_pool_size.max(1))
            .build()
            .map_err(|e| OpenError::Postgres(e.to_string()))?;
        // Fail at start, not at the first request, when the database is unreachable.
        drop(
            pool.get()
                .await
                .map_err(|e| OpenError::Postgres(e.to_string()))?,
        );
        Ok(Self { pool })
    }

    /// Applies pending migrations, holding an advisory lock so that instances starting together
    /// do not race.
    pub async fn migrate(url: &str) -> Result<(), OpenError> {
        let (mut client, conn) = tokio_postgres::connect(url, NoTls)
            .await
            .map_err(|e| OpenError::Postgres(e.to_string()))?;
        let task = tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::warn!(error = %e, "migration connection ended");
            }
        });
        client
            .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(|e| OpenError::Postgres(e.to_string()))?;
        let result = embedded::migrations::runner()
            .run_async(&mut client)
            .await
            .map(|_| ())
            .map_err(|e| OpenError::Migration(e.to_string()));
        let _ = client
            .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
            .await;
        drop(client);
        let _ = task.await;
        result
    }

    /// See [`UPDATE_USER_WITH_AUDIT_PG`].
    async fn update_user_with_audit(
        &self,
        user: &User,
        expected_sequence: i64,
        a: &AuditEvent,
    ) -> Result<()> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(&UPDATE_USER_WITH_AUDIT_PG)
            .await
            .map_err(map_err)?;
        let mut p = rows::user_params(user);
        p.push(Box::new(expected_sequence));
        p.push(Box::new(a.org_id.map(|o| o.0)));
        p.push(Box::new(a.subject_type.clone()));
        p.push(Box::new(a.subject_id));
        p.push(Box::new(a.sequence));
        p.push(Box::new(a.event_type.clone()));
        p.push(Box::new(a.actor.as_text()));
        p.push(Box::new(Json(a.fields.clone())));
        p.push(Box::new(a.created_at.nanos()));
        let refs = param_refs(&p);
        if c.execute(&st, &refs).await.map_err(map_err)? == 0 {
            return Err(Error::Conflict);
        }
        Ok(())
    }

    async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.pool
            .get()
            .await
            .map_err(|e| Error::Unavailable(format!("database connection: {e}")))
    }

    async fn query_sql(&self, s: &sql::Sql) -> Result<Vec<tokio_postgres::Row>> {
        let c = self.client().await?;
        let st = c.prepare_cached(&s.text).await.map_err(map_err)?;
        let params: Vec<Box<dyn ToSql + Sync + Send>> = s.params.iter().map(boxed).collect();
        let refs = param_refs(&params);
        c.query(&st, &refs).await.map_err(map_err)
    }

    async fn query(
        &self,
        q: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>> {
        let c = self.client().await?;
        let st = c.prepare_cached(q).await.map_err(map_err)?;
        c.query(&st, params).await.map_err(map_err)
    }

    /// Like [`Self::query`] with a statement prepared for this call only, so PostgreSQL plans it
    /// for these parameters and the table as it is now. For look-ups whose table grows fast while
    /// they repeat (the bulk import): a cached statement can settle on a generic plan made when the
    /// table was empty, a sequential scan that grows with every batch.
    async fn query_fresh(
        &self,
        q: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>> {
        let c = self.client().await?;
        c.query(q, params).await.map_err(map_err)
    }

    async fn query_opt(
        &self,
        q: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<tokio_postgres::Row>> {
        let c = self.client().await?;
        let st = c.prepare_cached(q).await.map_err(map_err)?;
        c.query_opt(&st, params).await.map_err(map_err)
    }
}

static USER_WITH_INVITATION_PG: LazyLock<String> =
    LazyLock::new(|| sql::pg(&sql::USER_WITH_INVITATION));
static INSERT_USER_PG: LazyLock<String> = LazyLock::new(|| sql::pg(sql::INSERT_USER));
static UPDATE_USER_PG: LazyLock<String> = LazyLock::new(|| sql::pg(sql::UPDATE_USER));
/// The most common change set — a user updated, with its audit event — as one statement: the
/// audit row is inserted only when the update matched (`id` and the expected `sequence`), and a
/// single statement is its own transaction, so it needs neither `BEGIN` nor `COMMIT` (two fewer
/// round trips and statements for PostgreSQL to run). Parameters: those of `UPDATE_USER`, then
/// the eight of `INSERT_AUDIT` as `$41`–`$48`. Answers the number of audit rows inserted: 0 is a
/// conflict.
static UPDATE_USER_WITH_AUDIT_PG: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH updated AS ({} RETURNING id) INSERT INTO audit_events (organization_id, \
         subject_type, subject_id, sequence, event_type, actor, fields, created_at) \
         SELECT $41::bigint, $42::text, $43::bigint, $44::bigint, $45::text, $46::text, \
         $47::jsonb, $48::bigint FROM updated",
        sql::pg(sql::UPDATE_USER)
    )
});
const INSERT_ORGANIZATION: &str =
    "INSERT INTO organizations (id, name, created_at, modified_at) VALUES ($1, $2, $3, $4)";
const DELETE_USER: &str = "DELETE FROM users WHERE id = $1";
const PUT_INVITATION: &str = "INSERT INTO invitations (user_id, token, expires_at, language, email, phone, \
                 sent_email, sent_sms, accepted_at, created_at, url_template) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                 ON CONFLICT (user_id) DO UPDATE SET token = EXCLUDED.token, \
                 expires_at = EXCLUDED.expires_at, language = EXCLUDED.language, \
                 email = EXCLUDED.email, phone = EXCLUDED.phone, sent_email = EXCLUDED.sent_email, \
                 sent_sms = EXCLUDED.sent_sms, accepted_at = EXCLUDED.accepted_at, \
                 created_at = EXCLUDED.created_at, url_template = EXCLUDED.url_template";
const DELETE_INVITATION: &str = "DELETE FROM invitations WHERE user_id = $1";
const INSERT_GROUP: &str = "INSERT INTO user_groups (id, organization_id, name, description, remarks, \
                 external_id, created_at, modified_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
const UPDATE_GROUP: &str = "UPDATE user_groups SET name = $2, description = $3, remarks = $4, \
                 external_id = $5, modified_at = $6 WHERE id = $1";
const DELETE_GROUP: &str = "DELETE FROM user_groups WHERE id = $1";
const PUT_MEMBER: &str = "INSERT INTO user_group_members (group_id, user_id, group_admin) VALUES ($1, $2, $3) \
                 ON CONFLICT (group_id, user_id) DO UPDATE SET group_admin = EXCLUDED.group_admin";
const REMOVE_MEMBER: &str = "DELETE FROM user_group_members WHERE group_id = $1 AND user_id = $2";
const INSERT_API_KEY: &str = "INSERT INTO api_keys (id, name, organization_id, user_id, secret_hash, read_only, \
                 instance_admin, expires_at, created_at, kind, revoked_at, last_used_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";
const REVOKE_API_KEY: &str =
    "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1";
const TOUCH_API_KEY: &str = "UPDATE api_keys SET last_used_at = $2 WHERE id = $1";
const DELETE_SESSIONS: &str =
    "DELETE FROM api_keys WHERE user_id = $1 AND kind IN ('access', 'refresh')";
const DELETE_API_KEY: &str = "DELETE FROM api_keys WHERE id = $1";
const PUT_CODE: &str = "INSERT INTO one_time_codes (user_id, purpose, code_hash, target, expires_at, \
                 attempts, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (user_id, purpose) DO UPDATE SET code_hash = EXCLUDED.code_hash, \
                 target = EXCLUDED.target, expires_at = EXCLUDED.expires_at, \
                 attempts = EXCLUDED.attempts, created_at = EXCLUDED.created_at";
const INSERT_AUDIT: &str = "INSERT INTO audit_events (organization_id, subject_type, subject_id, sequence, \
                 event_type, actor, fields, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
const INSERT_OUTBOX: &str = "INSERT INTO outbox_messages (id, channel, template, language, \
    recipient, user_id, params, status, attempts, next_attempt_at, created_at, organization_id) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $8, $8, $9)";

const PASSWORD_CHECK: &str = "UPDATE users SET failed_password_attempts = $2, \
    password_locked_until = $3, password_hash = COALESCE($4, password_hash) WHERE id = $1";
const CODE_ATTEMPT: &str =
    "UPDATE one_time_codes SET attempts = attempts + 1 WHERE user_id = $1 AND purpose = $2";
const DELETE_CODE: &str = "DELETE FROM one_time_codes WHERE user_id = $1 AND purpose = $2";
const OUTBOX_SENT: &str =
    "UPDATE outbox_messages SET status = 'sent', sent_at = $2, last_error = NULL WHERE id = $1";
const OUTBOX_RETRY: &str = "UPDATE outbox_messages SET next_attempt_at = $2, last_error = $3 \
    WHERE id = $1 AND status = 'pending'";
const OUTBOX_CANCELLED: &str =
    "UPDATE outbox_messages SET status = 'cancelled', last_error = $2 WHERE id = $1";
const OUTBOX_FAILED: &str =
    "UPDATE outbox_messages SET status = 'failed', last_error = $2 WHERE id = $1";

/// The statement a change runs.
fn statement(c: &Change) -> &'static str {
    match c {
        Change::InsertOrganization(_) => INSERT_ORGANIZATION,
        Change::InsertUser(_) => INSERT_USER_PG.as_str(),
        Change::UpdateUser { .. } => UPDATE_USER_PG.as_str(),
        Change::DeleteUser(_) => DELETE_USER,
        Change::PutInvitation(_) => PUT_INVITATION,
        Change::DeleteInvitation(_) => DELETE_INVITATION,
        Change::InsertGroup(_) => INSERT_GROUP,
        Change::UpdateGroup(_) => UPDATE_GROUP,
        Change::DeleteGroup(_) => DELETE_GROUP,
        Change::PutMember { .. } => PUT_MEMBER,
        Change::RemoveMember { .. } => REMOVE_MEMBER,
        Change::InsertApiKey { .. } => INSERT_API_KEY,
        Change::DeleteApiKey(_) => DELETE_API_KEY,
        Change::RevokeApiKey { .. } => REVOKE_API_KEY,
        Change::TouchApiKey { .. } => TOUCH_API_KEY,
        Change::DeleteSessions(_) => DELETE_SESSIONS,
        Change::PutCode(_) => PUT_CODE,
        Change::Audit(_) => INSERT_AUDIT,
        Change::Outbox(_) => INSERT_OUTBOX,
        Change::PasswordCheck { .. } => PASSWORD_CHECK,
        Change::CodeAttempt { .. } => CODE_ATTEMPT,
        Change::DeleteCode { .. } => DELETE_CODE,
        Change::OutboxSent { .. } => OUTBOX_SENT,
        Change::OutboxRetry { .. } => OUTBOX_RETRY,
        Change::OutboxFailed { .. } => OUTBOX_FAILED,
        Change::OutboxCancelled { .. } => OUTBOX_CANCELLED,
    }
}

/// `params` as the references tokio-postgres takes.
fn param_refs(params: &[Box<dyn ToSql + Sync + Send>]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|b| b.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

async fn apply_one(tx: &deadpool_postgres::Transaction<'_>, c: &Change) -> Result<()> {
    let exec = |q: &'static str| async move { tx.prepare_cached(q).await.map_err(map_err) };
    match c {
        Change::InsertOrganization(o) => {
            let st = exec(INSERT_ORGANIZATION).await?;
            tx.execute(
                &st,
                &[
                    &o.id.0,
                    &o.name,
                    &o.created_at.nanos(),
                    &o.modified_at.nanos(),
                ],
            )
            .await
            .map_err(map_err)?;
        }
        Change::InsertUser(u) => {
            let st = tx
                .prepare_cached(&sql::pg(sql::INSERT_USER))
                .await
                .map_err(map_err)?;
            let p = rows::user_params(u);
            let refs = param_refs(&p);
            tx.execute(&st, &refs).await.map_err(map_err)?;
        }
        Change::UpdateUser {
            user,
            expected_sequence,
        } => {
            let st = tx
                .prepare_cached(&sql::pg(sql::UPDATE_USER))
                .await
                .map_err(map_err)?;
            let mut p = rows::user_params(user);
            p.push(Box::new(*expected_sequence));
            let refs = param_refs(&p);
            if tx.execute(&st, &refs).await.map_err(map_err)? == 0 {
                return Err(Error::Conflict);
            }
        }
        Change::DeleteUser(id) => {
            let st = exec(DELETE_USER).await?;
            tx.execute(&st, &[&id.0]).await.map_err(map_err)?;
        }
        Change::PutInvitation(i) => {
            let st = exec(PUT_INVITATION).await?;
            tx.execute(
                &st,
                &[
                    &i.user_id.0,
                    &i.token,
                    &i.expires_at.nanos(),
                    &i.language.as_str(),
                    &i.email.as_ref().map(|e| e.as_str()),
                    &i.phone.as_ref().map(|p| p.as_str()),
                    &i.sent_email,
                    &i.sent_sms,
                    &i.accepted_at.map(|t| t.nanos()),
                    &i.created_at.nanos(),
                    &i.url_template.as_ref().map(|t| t.as_str()),
                ],
            )
            .await
            .map_err(map_err)?;
        }
        Change::DeleteInvitation(id) => {
            let st = exec(DELETE_INVITATION).await?;
            tx.execute(&st, &[&id.0]).await.map_err(map_err)?;
        }
        Change::InsertGroup(g) => {
            let st = exec(INSERT_GROUP).await?;
            tx.execute(
                &st,
                &[
                    &g.id.0,
                    &g.org_id.0,
                    &g.name,
                    &g.description,
                    &g.remarks,
                    &g.external_id,
                    &g.created_at.nanos(),
                    &g.modified_at.nanos(),
                ],
            )
            .await
            .map_err(map_err)?;
        }
        Change::UpdateGroup(g) => {
            let st = exec(UPDATE_GROUP).await?;
            tx.execute(
                &st,
                &[
                    &g.id.0,
                    &g.name,
                    &g.description,
                    &g.remarks,
                    &g.external_id,
                    &g.modified_at.nanos(),
                ],
            )
            .await
            .map_err(map_err)?;
        }
        Change::DeleteGroup(id) => {
            let st = exec(DELETE_GROUP).await?;
            tx.execute(&st, &[&id.0]).await.map_err(map_err)?;
        }
        Change::PutMember {
            group,
            user,
            group_admin,
        } => {
            let st = exec(PUT_MEMBER).await?;
            tx.execute(&st, &[&group.0, &user.0, group_admin])
                .await
                .map_err(map_err)?;
        }
        Change::RemoveMember { group, user } => {
            let st = exec(REMOVE_MEMBER).await?;
            tx.execute(&st, &[&group.0, &user.0])
                .await
                .map_err(map_err)?;
        }
        Change::InsertApiKey { key, secret_hash } => {
            let st = exec(INSERT_API_KEY).await?;
            tx.execute(
                &st,
                &[
                    &key.id.0,
                    &key.name,
                    &key.org_id.map(|o| o.0),
                    &key.user_id.map(|u| u.0),
                    secret_hash,
                    &key.read_only,
                    &key.instance_admin,
                    &key.expires_at.map(|t| t.nanos()),
                    &key.created_at.nanos(),
                    &key.kind.as_str(),
                    &key.revoked_at.map(|t| t.nanos()),
                    &key.last_used_at.map(|t| t.nanos()),
                ],
            )
            .await
            .map_err(map_err)?;
        }
        Change::RevokeApiKey { id, at } => {
            let st = exec(REVOKE_API_KEY).await?;
            tx.execute(&st, &[&id.0, &at.nanos()])
                .await
                .map_err(map_err)?;
        }
        Change::TouchApiKey { id, at } => {
            let st = exec(TOUCH_API_KEY).await?;
            tx.execute(&st, &[&id.0, &at.nanos()])
                .await
                .map_err(map_err)?;
        }
        Change::DeleteSessions(user) => {
            let st = exec(DELETE_SESSIONS).await?;
            tx.execute(&st, &[&user.0]).await.map_err(map_err)?;
        }
        Change::DeleteApiKey(id) => {
            let st = exec(DELETE_API_KEY).await?;
            tx.execute(&st, &[&id.0]).await.map_err(map_err)?;
        }
        Change::PutCode(c) => {
            let st = exec(PUT_CODE).await?;
            tx.execute(
                &st,
                &[
                    &c.user_id.0,
                    &c.purpose.as_str(),
                    &c.code_hash,
                    &c.target,
                    &c.expires_at.nanos(),
                    &c.attempts,
                    &c.created_at.nanos(),
                ],
            )
            .await
            .map_err(map_err)?;
        }
        Change::Audit(a) => {
            let st = exec(INSERT_AUDIT).await?;
            tx.execute(
                &st,
                &[
                    &a.org_id.map(|o| o.0),
                    &a.subject_type,
                    &a.subject_id,
                    &a.sequence,
                    &a.event_type,
                    &a.actor.as_text(),
                    &Json(&a.fields),
                    &a.created_at.nanos(),
                ],
            )
            .await
            .map_err(map_err)?;
        }
        Change::Outbox(m) => {
            let st = exec(INSERT_OUTBOX).await?;
            tx.execute(
                &st,
                &[
                    &m.id,
                    &m.channel.as_str(),
                    &m.template,
                    &m.language.as_str(),
                    &m.recipient,
                    &m.user_id.map(|u| u.0),
                    &Json(&m.params),
                    &m.created_at.nanos(),
                    &m.org_id.map(|o| o.0),
                ],
            )
            .await
            .map_err(map_err)?;
        }
        Change::PasswordCheck {
            user,
            failed_attempts,
            locked_until,
            rehash,
        } => {
            let st = exec(PASSWORD_CHECK).await?;
            tx.execute(
                &st,
                &[
                    &user.0,
                    failed_attempts,
                    &locked_until.map(|t| t.nanos()),
                    rehash,
                ],
            )
            .await
            .map_err(map_err)?;
        }
        Change::CodeAttempt { user, purpose } => {
            let st = exec(CODE_ATTEMPT).await?;
            tx.execute(&st, &[&user.0, &purpose.as_str()])
                .await
                .map_err(map_err)?;
        }
        Change::DeleteCode { user, purpose } => {
            let st = exec(DELETE_CODE).await?;
            tx.execute(&st, &[&user.0, &purpose.as_str()])
                .await
                .map_err(map_err)?;
        }
        Change::OutboxSent { id, at } => {
            let st = exec(OUTBOX_SENT).await?;
            tx.execute(&st, &[id, &at.nanos()]).await.map_err(map_err)?;
        }
        Change::OutboxRetry {
            id,
            next_attempt_at,
            error,
        } => {
            let st = exec(OUTBOX_RETRY).await?;
            tx.execute(&st, &[id, &next_attempt_at.nanos(), error])
                .await
                .map_err(map_err)?;
        }
        Change::OutboxCancelled { id, reason } => {
            let st = exec(OUTBOX_CANCELLED).await?;
            tx.execute(&st, &[id, reason]).await.map_err(map_err)?;
        }
        Change::OutboxFailed { id, error } => {
            let st = exec(OUTBOX_FAILED).await?;
            tx.execute(&st, &[id, error]).await.map_err(map_err)?;
        }
    }
    Ok(())
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> Result<()> {
        self.query("SELECT 1", &[]).await.map(|_| ())
    }

    async fn allocate_ids(&self, kind: IdKind, n: usize) -> Result<Vec<i64>> {
        let q = match kind {
            IdKind::Organization => {
                "SELECT nextval('organizations_id_seq') FROM generate_series(1, $1)"
            }
            IdKind::User => "SELECT nextval('users_id_seq') FROM generate_series(1, $1)",
            IdKind::UserGroup => "SELECT nextval('user_groups_id_seq') FROM generate_series(1, $1)",
            IdKind::ApiKey => "SELECT nextval('api_keys_id_seq') FROM generate_series(1, $1)",
        };
        let n = i32::try_from(n).map_err(Error::internal)?;
        Ok(self
            .query(q, &[&n])
            .await?
            .iter()
            .map(|r| r.get::<_, i64>(0))
            .collect())
    }

    async fn commit(&self, changes: ChangeSet) -> Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        if let [
            Change::UpdateUser {
                user,
                expected_sequence,
            },
            Change::Audit(a),
        ] = changes.changes.as_slice()
        {
            return self
                .update_user_with_audit(user, *expected_sequence, a)
                .await;
        }
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(map_err)?;
        // Prepare (or find cached) every statement first; then send all of them pipelined, in
        // order, and wait for the answers together: one round trip for the whole change set.
        let mut distinct: Vec<&'static str> = changes.changes.iter().map(statement).collect();
        distinct.sort_unstable();
        distinct.dedup();
        try_join_all(distinct.iter().map(|q| tx.prepare_cached(q)))
            .await
            .map_err(map_err)?;
        try_join_all(changes.changes.iter().map(|change| apply_one(&tx, change))).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn organization(&self, id: OrgId) -> Result<Option<Organization>> {
        Ok(self
            .query_opt(
                "SELECT id, name, created_at, modified_at FROM organizations WHERE id = $1",
                &[&id.0],
            )
            .await?
            .map(|r| rows::organization(&r)))
    }

    async fn organizations(&self) -> Result<Vec<Organization>> {
        Ok(self
            .query(
                "SELECT id, name, created_at, modified_at FROM organizations ORDER BY id",
                &[],
            )
            .await?
            .iter()
            .map(rows::organization)
            .collect())
    }

    async fn user(&self, id: UserId) -> Result<Option<User>> {
        let q = format!("SELECT {} FROM users WHERE id = $1", sql::USER_COLUMNS);
        Ok(self
            .query_opt(&q, &[&id.0])
            .await?
            .map(|r| rows::user(&r, 0)))
    }

    async fn user_by_username(&self, username: &str) -> Result<Option<User>> {
        let q = format!(
            "SELECT {} FROM users WHERE lower(username) = $1",
            sql::USER_COLUMNS
        );
        Ok(self
            .query_opt(&q, &[&username.to_lowercase()])
            .await?
            .map(|r| rows::user(&r, 0)))
    }

    async fn find_user(&self, org: OrgId, key: UserKey<'_>) -> Result<Option<UserId>> {
        let (q, v) = match key {
            UserKey::Email(e) => (
                "SELECT id FROM users WHERE organization_id = $1 AND email_lower = $2",
                e,
            ),
            UserKey::PhoneWithoutEmail(p) => (
                "SELECT id FROM users WHERE organization_id = $1 AND phone = $2 AND email_lower IS NULL",
                p,
            ),
            UserKey::ExternalId(x) => (
                "SELECT id FROM users WHERE organization_id = $1 AND external_id = $2 ORDER BY id LIMIT 1",
                x,
            ),
        };
        Ok(self
            .query_opt(q, &[&org.0, &v])
            .await?
            .map(|r| UserId(r.get(0))))
    }

    async fn users(&self, q: &UserQuery) -> Result<Vec<User>> {
        let s = sql::users_query(Dialect::Postgres, q, None);
        Ok(self
            .query_sql(&s)
            .await?
            .iter()
            .map(|r| rows::user(r, 0))
            .collect())
    }

    async fn users_by_keys(
        &self,
        org: OrgId,
        external_ids: &[String],
        emails: &[String],
    ) -> Result<Vec<User>> {
        if external_ids.is_empty() && emails.is_empty() {
            return Ok(Vec::new());
        }
        let q = format!(
            "SELECT {} FROM users WHERE organization_id = $1 AND \
             (external_id = ANY($2) OR email_lower = ANY($3)) ORDER BY id",
            sql::USER_COLUMNS
        );
        Ok(self
            .query_fresh(&q, &[&org.0, &external_ids, &emails])
            .await?
            .iter()
            .map(|r| rows::user(r, 0))
            .collect())
    }

    async fn taken_usernames(&self, names: &[String]) -> Result<Vec<String>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let lowered: Vec<String> = names.iter().map(|n| n.to_lowercase()).collect();
        Ok(self
            .query(
                "SELECT lower(username) FROM users WHERE lower(username) = ANY($1)",
                &[&lowered],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    async fn count_users(&self, filter: &UserFilter) -> Result<u64> {
        let s = sql::users_count(Dialect::Postgres, filter, None);
        let rows = self.query_sql(&s).await?;
        Ok(rows.first().map(|r| r.get::<_, i64>(0)).unwrap_or(0).max(0) as u64)
    }

    async fn user_with_invitation(&self, id: UserId) -> Result<Option<(User, Option<Invitation>)>> {
        Ok(self
            .query_opt(&USER_WITH_INVITATION_PG, &[&id.0])
            .await?
            .map(|r| rows::user_with_invitation(&r)))
    }

    async fn invitation(&self, user: UserId) -> Result<Option<Invitation>> {
        let q = format!(
            "SELECT {} FROM invitations WHERE user_id = $1",
            rows::INVITATION_COLUMNS
        );
        Ok(self
            .query_opt(&q, &[&user.0])
            .await?
            .map(|r| rows::invitation(&r)))
    }

    async fn invitations(&self, users: &[UserId]) -> Result<Vec<Invitation>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = users.iter().map(|u| u.0).collect();
        let q = format!(
            "SELECT {} FROM invitations WHERE user_id = ANY($1)",
            rows::INVITATION_COLUMNS
        );
        Ok(self
            .query(&q, &[&ids])
            .await?
            .iter()
            .map(rows::invitation)
            .collect())
    }

    async fn invitation_by_token(&self, token: &str) -> Result<Option<Invitation>> {
        let q = format!(
            "SELECT {} FROM invitations WHERE token = $1",
            rows::INVITATION_COLUMNS
        );
        Ok(self
            .query_opt(&q, &[&token])
            .await?
            .map(|r| rows::invitation(&r)))
    }

    async fn group(&self, id: GroupId) -> Result<Option<UserGroup>> {
        Ok(self
            .query_opt(
                "SELECT id, organization_id, name, description, remarks, external_id, created_at, \
                 modified_at FROM user_groups WHERE id = $1",
                &[&id.0],
            )
            .await?
            .map(|r| rows::group(&r)))
    }

    async fn groups(&self, q: &GroupQuery) -> Result<Vec<UserGroup>> {
        let s = sql::groups_query(Dialect::Postgres, q);
        Ok(self.query_sql(&s).await?.iter().map(rows::group).collect())
    }

    async fn group_members(&self, groups: &[GroupId]) -> Result<Vec<(GroupId, GroupMember)>> {
        if groups.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = groups.iter().map(|g| g.0).collect();
        let q = format!(
            "SELECT m.group_id, m.group_admin, {} FROM user_group_members m \
             JOIN users u ON u.id = m.user_id WHERE m.group_id = ANY($1) ORDER BY m.group_id, u.id",
            sql::user_columns_aliased()
        );
        Ok(self
            .query(&q, &[&ids])
            .await?
            .iter()
            .map(|r| {
                (
                    GroupId(r.get(0)),
                    GroupMember {
                        group_admin: r.get(1),
                        user: rows::user(r, 2),
                    },
                )
            })
            .collect())
    }

    async fn membership(&self, group: GroupId, user: UserId) -> Result<Option<bool>> {
        Ok(self
            .query_opt(
                "SELECT group_admin FROM user_group_members WHERE group_id = $1 AND user_id = $2",
                &[&group.0, &user.0],
            )
            .await?
            .map(|r| r.get(0)))
    }

    async fn groups_administered_by(&self, user: UserId) -> Result<Vec<GroupId>> {
        Ok(self
            .query(
                "SELECT group_id FROM user_group_members WHERE user_id = $1 AND group_admin ORDER BY group_id",
                &[&user.0],
            )
            .await?
            .iter()
            .map(|r| GroupId(r.get(0)))
            .collect())
    }

    async fn is_group_admin_of(&self, admin: UserId, member: UserId) -> Result<bool> {
        let rows = self
            .query(
                "SELECT EXISTS (SELECT 1 FROM user_group_members a JOIN user_group_members m \
                 ON m.group_id = a.group_id WHERE a.user_id = $1 AND a.group_admin AND m.user_id = $2)",
                &[&admin.0, &member.0],
            )
            .await?;
        Ok(rows.first().is_some_and(|r| r.get(0)))
    }

    async fn api_key_by_secret_hash(&self, secret_hash: &str) -> Result<Option<ApiKey>> {
        let q = format!(
            "SELECT {} FROM api_keys WHERE secret_hash = $1",
            rows::API_KEY_COLUMNS
        );
        Ok(self
            .query_opt(&q, &[&secret_hash])
            .await?
            .map(|r| rows::api_key(&r)))
    }

    async fn api_key(&self, id: ApiKeyId) -> Result<Option<ApiKey>> {
        let q = format!(
            "SELECT {} FROM api_keys WHERE id = $1",
            rows::API_KEY_COLUMNS
        );
        Ok(self
            .query_opt(&q, &[&id.0])
            .await?
            .map(|r| rows::api_key(&r)))
    }

    async fn api_keys(&self, org: Option<OrgId>) -> Result<Vec<ApiKey>> {
        let q = format!(
            "SELECT {} FROM api_keys WHERE kind = 'api_key' AND ($1::BIGINT IS NULL OR organization_id = $1) ORDER BY id",
            rows::API_KEY_COLUMNS
        );
        Ok(self
            .query(&q, &[&org.map(|o| o.0)])
            .await?
            .iter()
            .map(rows::api_key)
            .collect())
    }

    async fn user_api_keys(&self, users: &[UserId]) -> Result<Vec<ApiKey>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = users.iter().map(|u| u.0).collect();
        let q = format!(
            "SELECT {} FROM api_keys WHERE kind = 'api_key' AND user_id = ANY($1) ORDER BY id",
            rows::API_KEY_COLUMNS
        );
        Ok(self
            .query(&q, &[&ids])
            .await?
            .iter()
            .map(rows::api_key)
            .collect())
    }

    async fn users_with_email(&self, email_lower: &str) -> Result<Vec<UserId>> {
        Ok(self
            .query(
                "SELECT id FROM users WHERE email_lower = $1 ORDER BY id",
                &[&email_lower],
            )
            .await?
            .iter()
            .map(|r| UserId(r.get(0)))
            .collect())
    }

    async fn instance_admin_key_exists(&self) -> Result<bool> {
        let rows = self
            .query(
                "SELECT EXISTS (SELECT 1 FROM api_keys WHERE instance_admin AND revoked_at IS NULL)",
                &[],
            )
            .await?;
        Ok(rows.first().is_some_and(|r| r.get(0)))
    }

    async fn codes(&self, user: UserId) -> Result<Vec<OneTimeCode>> {
        Ok(self
            .query(
                "SELECT user_id, purpose, code_hash, target, expires_at, attempts, created_at \
                 FROM one_time_codes WHERE user_id = $1 ORDER BY purpose",
                &[&user.0],
            )
            .await?
            .iter()
            .map(rows::code)
            .collect())
    }

    async fn users_due_for_removal(&self, now: Timestamp, limit: u32) -> Result<Vec<UserId>> {
        Ok(self
            .query(
                "SELECT id FROM users WHERE auto_remove_date IS NOT NULL AND auto_remove_date <= $1 \
                 ORDER BY auto_remove_date LIMIT $2",
                &[&now.nanos(), &i64::from(limit)],
            )
            .await?
            .iter()
            .map(|r| UserId(r.get(0)))
            .collect())
    }

    async fn audit_events(&self, subject_type: &str, subject_id: i64) -> Result<Vec<AuditEvent>> {
        Ok(self
            .query(
                "SELECT organization_id, subject_type, subject_id, sequence, event_type, actor, \
                 fields, created_at FROM audit_events WHERE subject_type = $1 AND subject_id = $2 ORDER BY id",
                &[&subject_type, &subject_id],
            )
            .await?
            .iter()
            .map(rows::audit)
            .collect())
    }

    async fn outbox(&self, user: Option<UserId>) -> Result<Vec<OutboxRecord>> {
        let q = format!(
            "SELECT {} FROM outbox_messages WHERE $1::BIGINT IS NULL OR user_id = $1 ORDER BY created_at, id",
            rows::OUTBOX_COLUMNS
        );
        Ok(self
            .query(&q, &[&user.map(|u| u.0)])
            .await?
            .iter()
            .map(rows::outbox)
            .collect())
    }

    async fn outbox_list(&self, q: &OutboxQuery) -> Result<Vec<OutboxRecord>> {
        let sql = format!(
            "SELECT {} FROM outbox_messages WHERE ($1::TEXT IS NULL OR status = $1) \
             AND ($2::BIGINT IS NULL OR organization_id = $2) ORDER BY created_at, id LIMIT $3 OFFSET $4",
            rows::OUTBOX_COLUMNS
        );
        let (limit, offset) = (
            q.limit.min(i64::MAX as u64) as i64,
            q.offset.min(i64::MAX as u64) as i64,
        );
        Ok(self
            .query(&sql, &[&q.status, &q.org.map(|o| o.0), &limit, &offset])
            .await?
            .iter()
            .map(rows::outbox)
            .collect())
    }

    async fn outbox_counts(&self) -> Result<Vec<(String, u64)>> {
        Ok(self
            .query(
                "SELECT status, COUNT(*) FROM outbox_messages GROUP BY status ORDER BY status",
                &[],
            )
            .await?
            .iter()
            .map(|r| (r.get(0), r.get::<_, i64>(1).max(0) as u64))
            .collect())
    }

    async fn claim_outbox(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<OutboxRecord>> {
        let q = format!(
            "UPDATE outbox_messages SET next_attempt_at = $2, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM outbox_messages WHERE status = 'pending' \
             AND next_attempt_at <= $1 ORDER BY next_attempt_at, created_at, id LIMIT $3 \
             FOR UPDATE SKIP LOCKED) RETURNING {}",
            rows::OUTBOX_COLUMNS
        );
        let mut claimed: Vec<OutboxRecord> = self
            .query(&q, &[&now.nanos(), &lease_until.nanos(), &i64::from(limit)])
            .await?
            .iter()
            .map(rows::outbox)
            .collect();
        // RETURNING has no order; hand them out oldest first.
        claimed.sort_by(|a, b| {
            (a.message.created_at, &a.message.id).cmp(&(b.message.created_at, &b.message.id))
        });
        Ok(claimed)
    }

    async fn code(&self, user: UserId, purpose: CodePurpose) -> Result<Option<OneTimeCode>> {
        let q = format!(
            "SELECT {} FROM one_time_codes WHERE user_id = $1 AND purpose = $2",
            rows::CODE_COLUMNS
        );
        Ok(self
            .query_opt(&q, &[&user.0, &purpose.as_str()])
            .await?
            .map(|r| rows::code(&r)))
    }

    async fn code_by_hash(
        &self,
        purpose: CodePurpose,
        code_hash: &str,
    ) -> Result<Option<OneTimeCode>> {
        let q = format!(
            "SELECT {} FROM one_time_codes WHERE code_hash = $1 AND purpose = $2",
            rows::CODE_COLUMNS
        );
        Ok(self
            .query_opt(&q, &[&code_hash, &purpose.as_str()])
            .await?
            .map(|r| rows::code(&r)))
    }
}
