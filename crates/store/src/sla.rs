//! SLA reminders: the `sla_reminders` job's work. Referrals the service still owes an answer on
//! get a reminder to the service's consultants the working day before they are due and on the day;
//! once past due, the service's lead (its service admins) is told. Each reminder has a dedupe key,
//! so running the scan again (on another node, or after a retry) writes nothing twice.

use chrono::NaiveDate;
use telederm_domain::ReferralId;
use telederm_domain::organisation::Role;
use telederm_domain::referral::ReferralStatus;

use crate::outbox::{Channel, OutboxMessage, Template, insert_outbox};
use crate::{ReferralFilter, Result, Store};

/// The job kind that runs [`Store::queue_sla_reminders`].
pub const SLA_REMINDERS_JOB: &str = "sla_reminders";

impl Store {
    /// Referrals the service still owes an answer on whose due date is before `today`.
    pub async fn count_breached_referrals(&self, today: NaiveDate) -> Result<i64> {
        use sqlx::Row;
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM referrals
             WHERE status IN ('submitted', 'in_review', 'awaiting_information') AND due_date IS NOT NULL AND due_date < $1",
        )
        .bind(today.to_string())
        .fetch_one(self.pool())
        .await?;
        Ok(row.get("n"))
    }

    /// Writes the reminders due on `today` (with `next_working_day` the day after, by the
    /// service calendar). `link_for` makes the sign-in link for a referral. A referral awaiting
    /// the referrer's answer gets none when `clock_paused(service id)` (the service's clock stops
    /// while it waits, `pause_clock_while_awaiting_information`). Returns how many messages were
    /// written (0 when the scan already ran today).
    pub async fn queue_sla_reminders(
        &self,
        today: NaiveDate,
        next_working_day: NaiveDate,
        link_for: impl Fn(ReferralId) -> String,
        clock_paused: impl Fn(&str) -> bool,
    ) -> Result<usize> {
        let open = vec![ReferralStatus::Submitted, ReferralStatus::InReview, ReferralStatus::AwaitingInformation];
        debug_assert!(open.iter().all(|s| s.is_open_for_service()));
        let mut messages = Vec::new();
        let users = self.list_users().await?;
        let mut offset = 0;
        loop {
            let page = self
                .list_referrals(&ReferralFilter {
                    statuses: Some(open.clone()),
                    by_due_date: true,
                    limit: Some(1000),
                    offset: Some(offset),
                    ..Default::default()
                })
                .await?;
            let n = page.len() as i64;
            for r in page {
                let Some(due) = r.due_date else { continue };
                if r.status == ReferralStatus::AwaitingInformation && clock_paused(&r.service_id) {
                    continue;
                }
                let (template, role, key) = if due < today {
                    // Escalated once per referral and lead, not every day.
                    (Template::SlaBreached, Role::ServiceAdmin, format!("sla:breached:{}", r.id))
                } else if due == today {
                    (Template::SlaDueToday, Role::Consultant, format!("sla:due_today:{}:{today}", r.id))
                } else if due <= next_working_day {
                    (Template::SlaDueTomorrow, Role::Consultant, format!("sla:due_tomorrow:{}:{due}", r.id))
                } else {
                    continue;
                };
                // A claimed referral's reminders go to its consultant; otherwise to the service's.
                let recipients = users.iter().filter(|u| {
                    u.role == role
                        && u.services.contains(&r.service_id)
                        && (role != Role::Consultant || r.assignee_id.is_none_or(|a| a == u.id))
                });
                for u in recipients {
                    messages.push(OutboxMessage {
                        channel: Channel::Email,
                        recipient: u.email.clone(),
                        template,
                        link: link_for(r.id),
                        referral_id: Some(r.id),
                        dedupe_key: Some(format!("{key}:{}", u.id)),
                    });
                }
            }
            if n < 1000 {
                break;
            }
            offset += n;
        }
        let mut w = self.begin_write().await?;
        let mut written = 0;
        for m in &messages {
            written += usize::from(insert_outbox(&mut w, m).await?.is_some());
        }
        w.commit().await?;
        Ok(written)
    }
}
