//! Invitations: made with a user or later, changed and resent.

use super::{MAX_RETRIES, Services};
use crate::error::{Entity, Error, Field, FieldError, Result, Validator};
use crate::model::*;
use crate::ports::*;
use crate::principal::Principal;
use crate::rights;
use crate::secrets::new_token;
use crate::types::*;

/// Bold `PUT /v2/users/{id}/invitation`: every field optional.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct InvitationUpdate {
    pub language: Option<Language>,
    pub expiration: Option<Timestamp>,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub send_email: bool,
    pub send_sms: bool,
}

impl Services {
    /// The user's live invitation after a change of the user's email address or phone number
    /// (`before` → `after`), when it must change too: it goes to the new contact and counts as
    /// unsent there (accepting it proves only an address it was sent to), and when its link was
    /// sent to the old address or number, it gets a new token, so that link dies. Nothing is sent
    /// by itself: the caller resends when asked.
    pub(crate) async fn invitation_following(
        &self,
        before: &User,
        after: &User,
    ) -> Result<Option<Invitation>> {
        let email = |u: &User| u.email.as_ref().map(Email::normalized);
        if email(before) == email(after) && before.phone == after.phone {
            return Ok(None);
        }
        let Some(inv) = self.store().invitation(after.id).await? else {
            return Ok(None);
        };
        if inv.accepted_at.is_some() {
            return Ok(None);
        }
        let mut next = inv.clone();
        let mut sent_elsewhere = false;
        if inv.email.as_ref().map(Email::normalized) != email(after) {
            next.email = after.email.clone();
            sent_elsewhere |= inv.sent_email;
            next.sent_email = false;
        }
        if inv.phone != after.phone {
            next.phone = after.phone.clone();
            sent_elsewhere |= inv.sent_sms;
            next.sent_sms = false;
        }
        if next == inv {
            return Ok(None);
        }
        if sent_elsewhere {
            next.token = new_token();
        }
        Ok(Some(next))
    }

    /// Changes (or makes) the user's invitation and (re)sends it when asked. An expired
    /// invitation gets a fresh token; an accepted one cannot be changed.
    pub async fn update_invitation(
        &self,
        p: &Principal,
        id: UserId,
        req: InvitationUpdate,
    ) -> Result<Invitation> {
        let now = self.now();
        if let Some(exp) = req.expiration
            && exp <= now
        {
            return Err(Error::Invalid(vec![FieldError::new(
                Field::InvitationExpiration,
                "in_the_past",
                "The expiration must be in the future",
            )]));
        }
        let _turn = self.user_turn(id).await;
        for _ in 0..MAX_RETRIES {
            let (user, rel) = self.visible_user(p, id).await?;
            rights::may_invite(p, rel)?;
            let current = self.store().invitation(id).await?;
            if user.registered() || current.as_ref().is_some_and(|i| i.accepted_at.is_some()) {
                return Err(Error::FailedPrecondition {
                    code: "invitation_already_accepted",
                    message: "The invitation has already been accepted".to_owned(),
                });
            }
            let fresh = || Invitation {
                user_id: id,
                token: new_token(),
                expires_at: now.plus(self.config().invitation_ttl),
                language: Services::language_of(&user),
                email: user.email.clone(),
                phone: user.phone.clone(),
                sent_email: false,
                sent_sms: false,
                accepted_at: None,
                created_at: now,
                url_template: None,
            };
            let mut inv = match current.clone() {
                Some(i) if !i.is_expired(now) => i,
                Some(i) => Invitation {
                    token: new_token(),
                    expires_at: now.plus(self.config().invitation_ttl),
                    ..i
                },
                None => fresh(),
            };
            if let Some(l) = req.language {
                inv.language = l;
            }
            if let Some(e) = req.expiration {
                inv.expires_at = e;
            }
            // Another address or number is another recipient: it counts as sent only once sent
            // again, and a link already sent to the old one dies (a new token).
            let mut sent_elsewhere = false;
            if let Some(e) = &req.email {
                if inv.email.as_ref().map(Email::normalized) != Some(e.normalized()) {
                    sent_elsewhere |= inv.sent_email;
                    inv.sent_email = false;
                }
                inv.email = Some(e.clone());
            }
            if let Some(ph) = &req.phone {
                if inv.phone.as_ref() != Some(ph) {
                    sent_elsewhere |= inv.sent_sms;
                    inv.sent_sms = false;
                }
                inv.phone = Some(ph.clone());
            }
            if sent_elsewhere && current.as_ref().is_some_and(|c| c.token == inv.token) {
                inv.token = new_token();
            }
            let mut v = Validator::new();
            if req.send_email && inv.email.is_none() {
                v.push(FieldError::new(
                    Field::InvitationSendEmail,
                    "email_required",
                    "The user has no email address to send the invitation to",
                ));
            }
            if req.send_sms && inv.phone.is_none() {
                v.push(FieldError::new(
                    Field::InvitationSendSms,
                    "phone_required",
                    "The user has no phone number to send the invitation to",
                ));
            }
            v.finish()?;
            inv.sent_email |= req.send_email;
            inv.sent_sms |= req.send_sms;
            if current.as_ref() == Some(&inv) && !req.send_email && !req.send_sms {
                return Ok(inv);
            }

            let org = self
                .store()
                .organization(user.org_id)
                .await?
                .ok_or(Error::NotFound(Entity::Organization))?;
            let mut next = user.clone();
            next.sequence += 1;
            next.modified_at = now;
            let mut cs = ChangeSet::new();
            cs.push(Change::UpdateUser {
                user: next.clone(),
                expected_sequence: user.sequence,
            });
            cs.push(Change::PutInvitation(inv.clone()));
            cs.push(Change::Audit(AuditEvent {
                org_id: Some(user.org_id),
                subject_type: "user".to_owned(),
                subject_id: id.0,
                sequence: Some(next.sequence),
                event_type: "user.invitation.updated".to_owned(),
                actor: p.actor(),
                fields: vec!["invitation".to_owned()],
                created_at: now,
            }));
            for m in self.invitation_messages(&next, &inv, &org.name, req.send_email, req.send_sms)
            {
                cs.push(Change::Outbox(m));
            }
            match self.commit(cs).await {
                Ok(()) => return Ok(inv),
                Err(Error::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Unavailable(
            "too many concurrent changes to this user; try again".to_owned(),
        ))
    }
}
