//! `zitadel.user.v2.UserService` over Connect (JSON and binary), gRPC and gRPC-Web, served by
//! connectrpc; each handler authenticates and hands the owned request to [`Calls`].

use usher_core::principal::Principal;
use usher_core::service::StateChange;
use usher_zitadel_proto::connectrpc::{
    ConnectError, RequestContext, Response, ServiceRequest, ServiceResult,
};
use usher_zitadel_proto::zitadel::user::v2::*;

use super::body_limit::{BadShape, TooLarge};
use super::calls::Calls;
use super::error::ZError;
use crate::common::auth::authenticate;

pub struct UserServiceImpl {
    pub calls: Calls,
}

impl UserServiceImpl {
    async fn principal(&self, ctx: &RequestContext) -> Result<Principal, ConnectError> {
        if let Some(TooLarge(limit)) = ctx.extensions().get::<TooLarge>() {
            return Err(ZError::too_large(*limit).into_connect());
        }
        // Like connectrpc's own decode errors, this comes before authentication.
        if let Some(BadShape(why)) = ctx.extensions().get::<BadShape>() {
            return Err(ZError::undecodable(why).into_connect());
        }
        authenticate(&self.calls.state, ctx.headers())
            .await
            .map_err(|e| ZError::from(e).into_connect())
    }

    /// The guard of the calls usher does not serve: they authenticate like every call.
    async fn authenticated(&self, ctx: &RequestContext) -> Result<(), ConnectError> {
        self.principal(ctx).await.map(|_| ())
    }
}

fn done<T>(r: Result<T, ZError>) -> ServiceResult<T> {
    r.map(Response::new).map_err(ZError::into_connect)
}

/// A handler that authenticates and calls `Calls::$call(&principal, request)`.
macro_rules! served {
    ($method:ident, $req:ty, $resp:ty) => {
        async fn $method(
            &self,
            ctx: RequestContext,
            request: ServiceRequest<'_, $req>,
        ) -> ServiceResult<$resp> {
            let p = self.principal(&ctx).await?;
            done(self.calls.$method(&p, request.to_owned_message()).await)
        }
    };
}

/// A state change whose response carries only the details.
macro_rules! state_change {
    ($method:ident, $req:ty, $resp:ident, $change:expr) => {
        async fn $method(
            &self,
            ctx: RequestContext,
            request: ServiceRequest<'_, $req>,
        ) -> ServiceResult<$resp> {
            let p = self.principal(&ctx).await?;
            let details = self.calls.change_state(&p, request.user_id, $change).await;
            done(details.map(|d| $resp {
                details: d.into(),
                ..Default::default()
            }))
        }
    };
}

#[allow(
    refining_impl_trait,
    reason = "handlers return the concrete response message"
)]
impl UserService for UserServiceImpl {
    // The calls usher does not serve authenticate first, like every call (and like their REST
    // paths): no or an unknown token is unauthenticated, a known one gets unimplemented.
    usher_zitadel_proto::unserved_user_service_methods!(guard = Self::authenticated);

    async fn add_human_user(
        &self,
        ctx: RequestContext,
        request: ServiceRequest<'_, AddHumanUserRequest>,
    ) -> ServiceResult<AddHumanUserResponse> {
        let p = self.principal(&ctx).await?;
        done(
            self.calls
                .add_human_user(&p, ctx.headers(), request.to_owned_message())
                .await,
        )
    }

    served!(get_user_by_id, GetUserByIDRequest, GetUserByIDResponse);
    served!(list_users, ListUsersRequest, ListUsersResponse);
    served!(
        update_human_user,
        UpdateHumanUserRequest,
        UpdateHumanUserResponse
    );
    served!(set_email, SetEmailRequest, SetEmailResponse);
    served!(
        resend_email_code,
        ResendEmailCodeRequest,
        ResendEmailCodeResponse
    );
    served!(send_email_code, SendEmailCodeRequest, SendEmailCodeResponse);
    served!(verify_email, VerifyEmailRequest, VerifyEmailResponse);
    served!(set_phone, SetPhoneRequest, SetPhoneResponse);
    served!(remove_phone, RemovePhoneRequest, RemovePhoneResponse);
    served!(
        resend_phone_code,
        ResendPhoneCodeRequest,
        ResendPhoneCodeResponse
    );
    served!(verify_phone, VerifyPhoneRequest, VerifyPhoneResponse);
    served!(set_password, SetPasswordRequest, SetPasswordResponse);
    served!(password_reset, PasswordResetRequest, PasswordResetResponse);
    served!(delete_user, DeleteUserRequest, DeleteUserResponse);
    served!(
        create_invite_code,
        CreateInviteCodeRequest,
        CreateInviteCodeResponse
    );
    served!(
        resend_invite_code,
        ResendInviteCodeRequest,
        ResendInviteCodeResponse
    );
    served!(
        verify_invite_code,
        VerifyInviteCodeRequest,
        VerifyInviteCodeResponse
    );
    state_change!(
        deactivate_user,
        DeactivateUserRequest,
        DeactivateUserResponse,
        StateChange::Deactivate
    );
    state_change!(
        reactivate_user,
        ReactivateUserRequest,
        ReactivateUserResponse,
        StateChange::Reactivate
    );
    state_change!(
        lock_user,
        LockUserRequest,
        LockUserResponse,
        StateChange::Lock
    );
    state_change!(
        unlock_user,
        UnlockUserRequest,
        UnlockUserResponse,
        StateChange::Unlock
    );
}
