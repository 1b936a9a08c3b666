//! 更新のご案内メール (R-AI2; issue #3 item 8): contacts who asked for them are mailed 90,
//! 60, 30 and 10 days before their contract ends, and before a certificate ends while its
//! contract runs on (then 継続発行 is open from 30 days before). Run periodically; each
//! reminder is recorded with its mail job in one transaction, so it goes out once only,
//! across restarts and instances.

use crate::{Ra, Result};

/// Days before the end at which reminders go out.
pub const REMINDER_DAYS: [i64; 4] = [90, 60, 30, 10];

impl Ra {
    /// Queues the reminders that are due now. When several are due at once (the system
    /// was down), only the nearest goes out. Returns how many were queued.
    pub async fn queue_reminders(&self) -> Result<usize> {
        let now = self.now();
        let mut queued = 0;
        for ending in self.store.endings(now, REMINDER_DAYS[0] * 86_400).await? {
            let due = REMINDER_DAYS
                .iter()
                .copied()
                .filter(|d| now >= ending.ends_at - d * 86_400)
                .min();
            if let Some(days) = due
                && self.store.record_reminder(&ending, days, now).await?
            {
                queued += 1;
            }
        }
        Ok(queued)
    }
}
