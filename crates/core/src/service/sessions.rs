//! Password logins, their access and refresh tokens, and the API tokens users make for
//! themselves.

use super::{KeyDraft, NewKey, Services};
use crate::error::{Entity, Error, Field, FieldError, Result};
use crate::model::*;
use crate::ports::*;
use crate::principal::Principal;
use crate::secrets::{hash_secret, new_secret};
use crate::types::*;

/// Lifetime of an access token.
pub const ACCESS_TTL_SECS: i64 = 3600;
/// Lifetime of a refresh token (rotated on use).
pub const REFRESH_TTL_DAYS: i64 = 30;

/// The tokens of a login.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenPair {
    pub access: String,
    pub refresh: String,
    pub access_expires_at: Timestamp,
    pub refresh_expires_at: Timestamp,
    pub user: User,
}

/// What a user asks for when making an API token for itself.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UserTokenDraft {
    pub name: String,
    pub expires_at: Option<Timestamp>,
    pub read_only: bool,
}

fn bad_credentials() -> Error {
    Error::Unauthenticated
}

impl Services {
    /// The user a login name names: its username, else its email address when exactly one user
    /// of any organization has it.
    async fn user_for_login(&self, name: &str) -> Result<Option<User>> {
        // A name as typed by the client: one with a NUL is nobody's (no stored text holds one),
        // and PostgreSQL refuses it as a parameter.
        if name.contains('\0') {
            return Ok(None);
        }
        if let Some(u) = self.store().user_by_username(name).await? {
            return Ok(Some(u));
        }
        let ids = self.store().users_with_email(&name.to_lowercase()).await?;
        match ids.as_slice() {
            [one] => self.store().user(*one).await,
            _ => Ok(None),
        }
    }

    /// Checks a password login. Unknown users get the same answer after the same work as wrong
    /// passwords, and are locked out after the same number of failures.
    pub async fn login(&self, name: &str, password: &str) -> Result<TokenPair> {
        self.guard_proof(None)?;
        let name = name.trim();
        if name.is_empty() || name.len() > 320 || password.is_empty() || password.len() > 4096 {
            self.hasher().verify_dummy(password).await;
            return Err(bad_credentials());
        }
        let Some(user) = self.user_for_login(name).await? else {
            self.unknown_login_failure(name).await?;
            return Err(bad_credentials());
        };
        let ok = self.check_password(&user, password).await?;
        if !ok || matches!(user.state, UserState::Inactive | UserState::Locked) {
            return Err(bad_credentials());
        }
        let user = self
            .store()
            .user(user.id)
            .await?
            .ok_or_else(bad_credentials)?;
        self.issue_pair(user, None).await
    }

    /// Unknown login names fail like known ones: the same hashing work, and a lockout after the
    /// same number of attempts (counted in memory).
    async fn unknown_login_failure(&self, name: &str) -> Result<()> {
        let key = name.to_lowercase();
        self.inner.unknown_logins.check(&key, self.now())?;
        self.hasher().verify_dummy(name).await;
        self.proof_failed(None);
        let _ = self.inner.unknown_logins.fail(&key, self.now());
        Ok(())
    }

    /// Exchanges a refresh token for a new pair; the used one is gone (rotation).
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair> {
        self.guard_proof(None)?;
        let result = self.refresh_unguarded(refresh_token).await;
        if matches!(result, Err(Error::Unauthenticated)) {
            self.proof_failed(None);
        }
        result
    }

    async fn refresh_unguarded(&self, refresh_token: &str) -> Result<TokenPair> {
        if refresh_token.is_empty() || refresh_token.len() > 512 {
            return Err(bad_credentials());
        }
        let key = self
            .store()
            .api_key_by_secret_hash(&hash_secret(refresh_token))
            .await?
            .filter(|k| k.kind == KeyKind::Refresh && k.revoked_at.is_none())
            .ok_or_else(bad_credentials)?;
        if key.expires_at.is_some_and(|t| t <= self.now()) {
            return Err(bad_credentials());
        }
        let user = match key.user_id {
            Some(id) => self.store().user(id).await?.ok_or_else(bad_credentials)?,
            None => return Err(bad_credentials()),
        };
        if matches!(user.state, UserState::Inactive | UserState::Locked) {
            return Err(bad_credentials());
        }
        self.issue_pair(user, Some(key.id)).await
    }

    async fn issue_pair(&self, user: User, replaces: Option<ApiKeyId>) -> Result<TokenPair> {
        let now = self.now();
        let ids = self.store().allocate_ids(IdKind::ApiKey, 2).await?;
        let (access, refresh) = (new_secret(), new_secret());
        let access_expires_at = now.plus(chrono::Duration::seconds(ACCESS_TTL_SECS));
        let refresh_expires_at = now.plus(chrono::Duration::days(REFRESH_TTL_DAYS));
        let key = |id: i64, kind: KeyKind, expires: Timestamp| ApiKey {
            id: ApiKeyId(id),
            name: format!("login session ({})", kind.as_str()),
            org_id: Some(user.org_id),
            user_id: Some(user.id),
            read_only: false,
            instance_admin: false,
            expires_at: Some(expires),
            created_at: now,
            kind,
            revoked_at: None,
            last_used_at: None,
        };
        let mut cs = ChangeSet::new();
        if let Some(old) = replaces {
            cs.push(Change::DeleteApiKey(old));
        }
        cs.push(Change::InsertApiKey {
            key: key(ids[0], KeyKind::Access, access_expires_at),
            secret_hash: hash_secret(&access),
        });
        cs.push(Change::InsertApiKey {
            key: key(ids[1], KeyKind::Refresh, refresh_expires_at),
            secret_hash: hash_secret(&refresh),
        });
        cs.push(Change::Audit(AuditEvent {
            org_id: Some(user.org_id),
            subject_type: "session".to_owned(),
            subject_id: user.id.0,
            sequence: None,
            event_type: if replaces.is_some() {
                "session.refreshed"
            } else {
                "session.created"
            }
            .to_owned(),
            actor: Actor::System,
            fields: Vec::new(),
            created_at: now,
        }));
        self.commit(cs).await?;
        Ok(TokenPair {
            access,
            refresh,
            access_expires_at,
            refresh_expires_at,
            user,
        })
    }

    /// A user makes an API token for itself (it acts as that user).
    pub async fn create_user_token(&self, p: &Principal, draft: UserTokenDraft) -> Result<NewKey> {
        let Some(me) = p.user() else {
            return Err(Error::PermissionDenied(
                "API tokens belong to a user: use a user's credential",
            ));
        };
        if p.read_only {
            return Err(Error::PermissionDenied("read-only credential"));
        }
        if draft.name.trim().is_empty() {
            return Err(Error::Invalid(vec![FieldError::required(Field::Name)]));
        }
        let org = p.org().ok_or(Error::NotFound(Entity::Organization))?;
        let system = Principal::system();
        self.create_key(
            &system,
            KeyDraft {
                name: draft.name,
                org: Some(org),
                read_only: draft.read_only,
                expiration: draft.expires_at,
                user: Some(me),
                instance_admin: false,
            },
        )
        .await
        .map(|mut k| {
            k.key.kind = KeyKind::ApiKey;
            k
        })
    }

    /// The API tokens the caller may see: an organization admin's cover its organization's users,
    /// a user's only its own.
    pub async fn list_user_tokens(&self, p: &Principal) -> Result<Vec<ApiKey>> {
        match (p.user(), p.org()) {
            (_, Some(org)) if p.is_admin_of(org) => Ok(self
                .store()
                .api_keys(Some(org))
                .await?
                .into_iter()
                .filter(|k| k.user_id.is_some())
                .collect()),
            (Some(me), _) => self.store().user_api_keys(&[me]).await,
            _ => Ok(Vec::new()),
        }
    }

    async fn visible_user_token(&self, p: &Principal, id: ApiKeyId) -> Result<ApiKey> {
        let key = self
            .store()
            .api_key(id)
            .await?
            .filter(|k| k.kind == KeyKind::ApiKey && k.user_id.is_some())
            .ok_or(Error::NotFound(Entity::ApiKey))?;
        let mine = key.user_id.is_some() && key.user_id == p.user();
        let admin = key.org_id.is_some_and(|o| p.is_admin_of(o));
        if !(mine || admin) {
            return Err(Error::NotFound(Entity::ApiKey));
        }
        if p.read_only {
            return Err(Error::PermissionDenied("read-only credential"));
        }
        Ok(key)
    }

    /// Revokes a token: it stays listed, inactive, and stops working at once.
    pub async fn revoke_user_token(&self, p: &Principal, id: ApiKeyId) -> Result<ApiKey> {
        let key = self.visible_user_token(p, id).await?;
        let now = self.now();
        let mut cs = ChangeSet::new();
        cs.push(Change::RevokeApiKey { id, at: now });
        cs.push(Change::Audit(AuditEvent {
            org_id: key.org_id,
            subject_type: "api_key".to_owned(),
            subject_id: id.0,
            sequence: None,
            event_type: "api_key.revoked".to_owned(),
            actor: p.actor(),
            fields: Vec::new(),
            created_at: now,
        }));
        self.commit(cs).await?;
        self.auth().cache().clear();
        Ok(ApiKey {
            revoked_at: key.revoked_at.or(Some(now)),
            ..key
        })
    }

    pub async fn delete_user_token(&self, p: &Principal, id: ApiKeyId) -> Result<()> {
        self.visible_user_token(p, id).await?;
        self.delete_key(&Principal::system(), id).await
    }
}
