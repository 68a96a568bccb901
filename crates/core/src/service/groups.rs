//! User groups and their members.

use std::collections::HashMap;

use super::{Patch, Services};
use crate::error::{Entity, Error, Field, FieldError, Result};
use crate::model::*;
use crate::ports::*;
use crate::principal::Principal;
use crate::rights;
use crate::types::*;

/// The writable fields of a group; on create, `name` is required.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GroupDraft {
    pub name: Option<String>,
    pub description: Patch<String>,
    pub remarks: Patch<String>,
    pub external_id: Patch<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GroupWithMembers {
    pub group: UserGroup,
    /// Only when asked for.
    pub members: Option<Vec<GroupMember>>,
    /// The invitations of the members listed (as a user's own answer shows them).
    pub invitations: Vec<Invitation>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberChange {
    pub user: UserId,
    pub group_admin: bool,
}

fn set<T: Clone>(patch: &Patch<T>, slot: &mut Option<T>) {
    match patch {
        Patch::Keep => {}
        Patch::Clear => *slot = None,
        Patch::Set(v) => *slot = Some(v.clone()),
    }
}

impl Services {
    fn group_audit(
        &self,
        p: &Principal,
        g: &UserGroup,
        event_type: &str,
        fields: Vec<String>,
    ) -> Change {
        Change::Audit(AuditEvent {
            org_id: Some(g.org_id),
            subject_type: "user_group".to_owned(),
            subject_id: g.id.0,
            sequence: None,
            event_type: event_type.to_owned(),
            actor: p.actor(),
            fields,
            created_at: self.now(),
        })
    }

    /// A group the caller can see: admins see their organization's groups, users the groups
    /// they belong to.
    pub(crate) async fn visible_group(&self, p: &Principal, id: GroupId) -> Result<UserGroup> {
        let group = self
            .store()
            .group(id)
            .await?
            .ok_or(Error::NotFound(Entity::UserGroup))?;
        if p.is_admin_of(group.org_id) {
            return Ok(group);
        }
        if let Some(me) = p.user()
            && p.org() == Some(group.org_id)
            && self.store().membership(id, me).await?.is_some()
        {
            return Ok(group);
        }
        Err(Error::NotFound(Entity::UserGroup))
    }

    /// A group the caller may change (organization admins only).
    async fn writable_group(&self, p: &Principal, id: GroupId) -> Result<UserGroup> {
        let group = self.visible_group(p, id).await?;
        rights::may_administer_org(p, group.org_id, Entity::UserGroup)?;
        Ok(group)
    }

    pub async fn create_group(
        &self,
        p: &Principal,
        org: Option<OrgId>,
        draft: GroupDraft,
    ) -> Result<UserGroup> {
        let org = super::org_or_callers(p, org)?;
        let Some(name) = draft.name.clone().filter(|n| !n.trim().is_empty()) else {
            return Err(Error::Invalid(vec![FieldError::required(Field::GroupName)]));
        };
        rights::may_administer_org(p, org, Entity::Organization)?;
        self.store()
            .organization(org)
            .await?
            .ok_or(Error::NotFound(Entity::Organization))?;
        let now = self.now();
        let id = GroupId(self.store().allocate_ids(IdKind::UserGroup, 1).await?[0]);
        let mut group = UserGroup {
            id,
            org_id: org,
            name,
            description: None,
            remarks: None,
            external_id: None,
            created_at: now,
            modified_at: now,
        };
        set(&draft.description, &mut group.description);
        set(&draft.remarks, &mut group.remarks);
        set(&draft.external_id, &mut group.external_id);
        let mut cs = ChangeSet::new();
        cs.push(Change::InsertGroup(group.clone()));
        cs.push(self.group_audit(
            p,
            &group,
            "user_group.created",
            vec!["user_group".to_owned()],
        ));
        self.commit(cs).await?;
        Ok(group)
    }

    pub async fn update_group(
        &self,
        p: &Principal,
        id: GroupId,
        draft: GroupDraft,
    ) -> Result<UserGroup> {
        let current = self.writable_group(p, id).await?;
        if let Some(n) = &draft.name
            && n.trim().is_empty()
        {
            return Err(Error::Invalid(vec![FieldError::required(Field::GroupName)]));
        }
        let mut next = current.clone();
        if let Some(n) = draft.name {
            next.name = n;
        }
        set(&draft.description, &mut next.description);
        set(&draft.remarks, &mut next.remarks);
        set(&draft.external_id, &mut next.external_id);
        if next == current {
            return Ok(current);
        }
        next.modified_at = self.now();
        let mut cs = ChangeSet::new();
        cs.push(Change::UpdateGroup(next.clone()));
        cs.push(self.group_audit(p, &next, "user_group.updated", Vec::new()));
        self.commit(cs).await?;
        Ok(next)
    }

    pub async fn delete_group(&self, p: &Principal, id: GroupId) -> Result<()> {
        let group = self.writable_group(p, id).await?;
        let mut cs = ChangeSet::new();
        cs.push(Change::DeleteGroup(id));
        cs.push(self.group_audit(p, &group, "user_group.deleted", Vec::new()));
        self.commit(cs).await
    }

    async fn members_of(&self, ids: &[GroupId]) -> Result<HashMap<GroupId, Vec<GroupMember>>> {
        let mut map: HashMap<GroupId, Vec<GroupMember>> =
            ids.iter().map(|g| (*g, Vec::new())).collect();
        for (g, m) in self.store().group_members(ids).await? {
            map.entry(g).or_default().push(m);
        }
        Ok(map)
    }

    /// Only the members the caller can see (a user sees itself, a group admin the members of
    /// the groups it administers), so a member list never shows a user that would be 404.
    async fn visible_members(
        &self,
        p: &Principal,
        org: OrgId,
        members: Vec<GroupMember>,
    ) -> Result<Vec<GroupMember>> {
        if p.is_admin_of(org) {
            return Ok(members);
        }
        let mut visible = Vec::with_capacity(members.len());
        for m in members {
            if rights::relation(self.store(), p, &m.user).await?.sees() {
                visible.push(m);
            }
        }
        Ok(visible)
    }

    pub async fn get_group(
        &self,
        p: &Principal,
        id: GroupId,
        include_users: bool,
    ) -> Result<GroupWithMembers> {
        let group = self.visible_group(p, id).await?;
        let members = if include_users {
            let all = self
                .members_of(&[id])
                .await?
                .remove(&id)
                .unwrap_or_default();
            Some(self.visible_members(p, group.org_id, all).await?)
        } else {
            None
        };
        let invitations = self.member_invitations(members.iter().flatten()).await?;
        Ok(GroupWithMembers {
            group,
            members,
            invitations,
        })
    }

    async fn member_invitations(
        &self,
        members: impl Iterator<Item = &GroupMember>,
    ) -> Result<Vec<Invitation>> {
        let ids: Vec<UserId> = members.map(|m| m.user.id).collect();
        self.store().invitations(&ids).await
    }

    pub async fn list_groups(
        &self,
        p: &Principal,
        mut q: GroupQuery,
        include_users: bool,
    ) -> Result<Vec<GroupWithMembers>> {
        if let Some(org) = q.org
            && (!p.can_see_org(org) || self.store().organization(org).await?.is_none())
        {
            return Err(Error::NotFound(Entity::Organization));
        }
        match p.org() {
            None => {}
            Some(own) => {
                q.org = Some(own);
                if !p.is_admin_of(own) {
                    q.member = p.user();
                }
            }
        }
        let groups = self.store().groups(&q).await?;
        let mut members = if include_users {
            let ids: Vec<GroupId> = groups.iter().map(|g| g.id).collect();
            self.members_of(&ids).await?
        } else {
            HashMap::new()
        };
        let mut out = Vec::with_capacity(groups.len());
        for group in groups {
            let m = if include_users {
                let all = members.remove(&group.id).unwrap_or_default();
                Some(self.visible_members(p, group.org_id, all).await?)
            } else {
                None
            };
            let invitations = self.member_invitations(m.iter().flatten()).await?;
            out.push(GroupWithMembers {
                group,
                members: m,
                invitations,
            });
        }
        Ok(out)
    }

    /// Adds users (or changes their admin flag when already members). All or nothing.
    pub async fn add_members(
        &self,
        p: &Principal,
        id: GroupId,
        changes: Vec<MemberChange>,
    ) -> Result<()> {
        let group = self.writable_group(p, id).await?;
        let mut cs = ChangeSet::new();
        for c in &changes {
            let user = self
                .store()
                .user(c.user)
                .await?
                .filter(|u| p.can_see_org(u.org_id))
                .ok_or(Error::NotFound(Entity::User))?;
            if user.org_id != group.org_id {
                return Err(Error::FailedPrecondition {
                    code: "group_other_organization",
                    message: "Group and user do not belong to the same account".to_owned(),
                });
            }
            cs.push(Change::PutMember {
                group: id,
                user: c.user,
                group_admin: c.group_admin,
            });
        }
        if cs.is_empty() {
            return Ok(());
        }
        let fields = changes
            .iter()
            .map(|c| format!("member:{}", c.user))
            .collect();
        cs.push(self.group_audit(p, &group, "user_group.members_added", fields));
        self.commit(cs).await.map_err(|e| match e {
            // A user deleted between the check and the write.
            Error::Conflict => Error::NotFound(Entity::User),
            e => e,
        })
    }

    /// Removes users from the group; users that are not members are ignored.
    pub async fn remove_members(
        &self,
        p: &Principal,
        id: GroupId,
        users: Vec<UserId>,
    ) -> Result<()> {
        let group = self.writable_group(p, id).await?;
        let mut cs = ChangeSet::new();
        for u in &users {
            cs.push(Change::RemoveMember {
                group: id,
                user: *u,
            });
        }
        if cs.is_empty() {
            return Ok(());
        }
        let fields = users.iter().map(|u| format!("member:{u}")).collect();
        cs.push(self.group_audit(p, &group, "user_group.members_removed", fields));
        self.commit(cs).await
    }
}
