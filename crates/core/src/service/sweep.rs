//! The auto-removal sweep: users whose `autoRemoveDate` has passed are deleted.

use super::Services;
use crate::error::Result;
use crate::principal::Principal;

impl Services {
    /// Deletes every user whose auto-removal date is at or before now; returns how many.
    pub async fn sweep_auto_removals(&self) -> Result<usize> {
        let system = Principal::system();
        let mut removed = 0;
        loop {
            let due = self.store().users_due_for_removal(self.now(), 500).await?;
            if due.is_empty() {
                return Ok(removed);
            }
            let batch = due.len();
            for id in due {
                // Re-read: the date may have been cleared since the query.
                if let Some(user) = self.store().user(id).await?
                    && user.auto_remove_date.is_some_and(|d| d <= self.now())
                {
                    self.remove_user(&system, &user).await?;
                    removed += 1;
                    tracing::info!(user_id = %id, "auto-removed user");
                }
            }
            if batch < 500 {
                return Ok(removed);
            }
        }
    }
}
