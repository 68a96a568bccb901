//! The rights model of PRODUCT.md, decided once for all dialects.
//!
//! Order of the checks: first visibility (what the principal cannot see is *not found*, so ids in
//! other organizations do not leak), then permission (what it sees but may not change is
//! *forbidden*).

use crate::error::{Entity, Error, Result};
use crate::model::User;
use crate::ports::Store;
use crate::principal::{Principal, Role};
use crate::types::{GroupId, OrgId};

/// How a principal relates to a user it looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Relation {
    /// Instance admin, or admin of the user's organization.
    pub admin: bool,
    /// The user is in a group the principal administers.
    pub group_admin: bool,
    /// The principal is the user.
    pub itself: bool,
}

impl Relation {
    pub fn sees(self) -> bool {
        self.admin || self.group_admin || self.itself
    }
}

/// The fields of a user a change touches, as far as rights are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChangeScope {
    /// Names and language: a user may edit these on itself.
    pub own_profile: bool,
    /// An email address change confirmed by a code to the new address (or a code for the current
    /// one): a user may do this to itself.
    pub email: bool,
    /// Marking an email address or phone number verified without a code: admins only.
    pub verified_flag: bool,
    /// Password: a user changes its own with proof (checked by the password flows).
    pub password: bool,
    /// `superUser`: only admins.
    pub super_user: bool,
    /// Group memberships and admin flags: only admins.
    pub membership: bool,
    /// Everything else (contact, external ids, settings, state).
    pub other: bool,
}

/// Relation of `p` to `user`.
pub async fn relation(store: &dyn Store, p: &Principal, user: &User) -> Result<Relation> {
    let mut r = Relation {
        admin: p.is_admin_of(user.org_id),
        ..Relation::default()
    };
    if let Role::User { id, org, .. } = p.role
        && org == user.org_id
    {
        r.itself = id == user.id;
        if !r.admin {
            // Includes a group admin who is a member of its own group editing itself.
            r.group_admin = store.is_group_admin_of(id, user.id).await?;
        }
    }
    Ok(r)
}

/// Visible or 404.
pub async fn see_user(store: &dyn Store, p: &Principal, user: &User) -> Result<Relation> {
    let r = relation(store, p, user).await?;
    if r.sees() {
        Ok(r)
    } else {
        Err(Error::NotFound(Entity::User))
    }
}

fn writable(p: &Principal) -> Result<()> {
    if p.read_only {
        Err(Error::PermissionDenied("read-only credential"))
    } else {
        Ok(())
    }
}

/// May `p`, related to the user by `r`, make a change of this scope?
pub fn may_update(p: &Principal, r: Relation, scope: ChangeScope) -> Result<()> {
    writable(p)?;
    if r.admin {
        return Ok(());
    }
    if r.group_admin && !scope.super_user && !scope.membership {
        return Ok(());
    }
    if r.itself && !scope.super_user && !scope.membership && !scope.other && !scope.verified_flag {
        return Ok(());
    }
    if scope.super_user {
        return Err(Error::PermissionDenied(
            "only an organization admin may grant super user",
        ));
    }
    Err(Error::PermissionDenied(
        "insufficient rights for this change",
    ))
}

pub fn may_delete(p: &Principal, r: Relation) -> Result<()> {
    writable(p)?;
    if r.admin {
        Ok(())
    } else {
        Err(Error::PermissionDenied("only an admin may delete users"))
    }
}

/// Resend or change a user's invitation.
pub fn may_invite(p: &Principal, r: Relation) -> Result<()> {
    writable(p)?;
    if r.admin || r.group_admin {
        Ok(())
    } else {
        Err(Error::PermissionDenied(
            "only an admin or group admin may invite",
        ))
    }
}

/// Create a user in `org`, optionally into `group`, optionally as super user.
pub async fn may_create_user(
    store: &dyn Store,
    p: &Principal,
    org: OrgId,
    group: Option<GroupId>,
    super_user: bool,
) -> Result<()> {
    if !p.can_see_org(org) {
        return Err(Error::NotFound(Entity::Organization));
    }
    writable(p)?;
    if p.is_admin_of(org) {
        return Ok(());
    }
    let Some(me) = p.user() else {
        return Err(Error::PermissionDenied("insufficient rights"));
    };
    let Some(group) = group else {
        return Err(Error::PermissionDenied(
            "a group admin creates users only into its groups",
        ));
    };
    if store.membership(group, me).await? != Some(true) {
        return Err(Error::PermissionDenied("not an admin of this group"));
    }
    if super_user {
        return Err(Error::PermissionDenied(
            "only an organization admin may grant super user",
        ));
    }
    Ok(())
}

/// Organization-wide administration (groups, imports, keys): visibility then admin rights.
pub fn may_administer_org(p: &Principal, org: OrgId, not_found: Entity) -> Result<()> {
    if !p.can_see_org(org) {
        return Err(Error::NotFound(not_found));
    }
    writable(p)?;
    if p.is_admin_of(org) {
        Ok(())
    } else {
        Err(Error::PermissionDenied(
            "only an organization admin may do this",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{ApiKeyId, UserId};

    fn p(role: Role, read_only: bool) -> Principal {
        Principal {
            key_id: Some(ApiKeyId(1)),
            role,
            read_only,
            expires_at: None,
        }
    }

    const PROFILE: ChangeScope = ChangeScope {
        own_profile: true,
        email: false,
        verified_flag: false,
        password: false,
        super_user: false,
        membership: false,
        other: false,
    };

    #[test]
    fn update_table() {
        let admin = Relation {
            admin: true,
            ..Default::default()
        };
        let gadmin = Relation {
            group_admin: true,
            ..Default::default()
        };
        let itself = Relation {
            itself: true,
            ..Default::default()
        };
        let user = p(
            Role::User {
                id: UserId(2),
                org: OrgId(1),
                super_user: false,
            },
            false,
        );
        let org_admin = p(Role::OrgAdmin { org: OrgId(1) }, false);
        let ro = p(Role::OrgAdmin { org: OrgId(1) }, true);
        let su = ChangeScope {
            super_user: true,
            ..Default::default()
        };
        let other = ChangeScope {
            other: true,
            ..Default::default()
        };

        assert!(may_update(&org_admin, admin, su).is_ok());
        assert!(matches!(
            may_update(&ro, admin, PROFILE),
            Err(Error::PermissionDenied(_))
        ));
        assert!(may_update(&user, gadmin, other).is_ok());
        assert!(may_update(&user, gadmin, su).is_err());
        assert!(may_update(&user, itself, PROFILE).is_ok());
        assert!(may_update(&user, itself, other).is_err());
        assert!(may_update(&user, itself, su).is_err());
        let confirmed_email = ChangeScope {
            email: true,
            ..Default::default()
        };
        assert!(may_update(&user, itself, confirmed_email).is_ok());
        let vouched = ChangeScope {
            email: true,
            verified_flag: true,
            ..Default::default()
        };
        assert!(may_update(&user, itself, vouched).is_err());
        assert!(may_update(&user, gadmin, vouched).is_ok());
        assert!(may_delete(&user, gadmin).is_err());
        assert!(may_delete(&org_admin, admin).is_ok());
        assert!(may_delete(&ro, admin).is_err());
        assert!(may_invite(&user, gadmin).is_ok());
        assert!(may_invite(&user, itself).is_err());
    }

    #[test]
    fn org_administration() {
        let other_org = p(Role::OrgAdmin { org: OrgId(2) }, false);
        assert!(matches!(
            may_administer_org(&other_org, OrgId(1), Entity::UserGroup),
            Err(Error::NotFound(Entity::UserGroup))
        ));
        let user = p(
            Role::User {
                id: UserId(2),
                org: OrgId(1),
                super_user: false,
            },
            false,
        );
        assert!(matches!(
            may_administer_org(&user, OrgId(1), Entity::UserGroup),
            Err(Error::PermissionDenied(_))
        ));
        let su = p(
            Role::User {
                id: UserId(2),
                org: OrgId(1),
                super_user: true,
            },
            false,
        );
        assert!(may_administer_org(&su, OrgId(1), Entity::UserGroup).is_ok());
        assert!(may_administer_org(&Principal::system(), OrgId(9), Entity::UserGroup).is_ok());
    }
}
