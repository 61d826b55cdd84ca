//! Outcome letters into the GP record (GP Connect Send Document over MESH): which outcome writes
//! a letter, what the pages show of its delivery, and who is told when it does not arrive.
//!
//! The letter row and its sending job are written in the outcome's own transaction
//! ([`letter_for_outcome`] → `referrals::Change::gp_letters`); the binary's worker sends it and
//! reads the acknowledgements, calling [`record_sent`], [`record_delivered`], [`record_filed`] and
//! [`record_failure`] here so each status change has its audit entry and, for a failure, the GP's
//! email in the same transaction as the status.

use chrono::Utc;
use telederm_domain::notification::{Channel, Template};
use telederm_domain::referral::Referral;
use telederm_domain::ReferralId;
use telederm_store::{AuditOutcome, GpLetter, GpLetterStatus, NewGpLetter, OutboxMessage};

use crate::App;
use crate::audit::{self, Actor, Target};
use crate::error::Result;

/// Who changes a letter's status: the worker, on MESH's and the GP system's word.
fn actor() -> Actor {
    Actor::operator("system (MESH)")
}

/// The letter an outcome writes, when letters go to the GP record (`Config::gp_letters`).
pub async fn letter_for_outcome(state: &App, r: &Referral) -> Result<Option<NewGpLetter>> {
    if !state.config.gp_letters {
        return Ok(None);
    }
    let practice = state.store.get_organisation(r.practice_id).await?;
    Ok(Some(NewGpLetter { referral_id: r.id, referral_version: r.version + 1, practice_ods: practice.ods_code }))
}

/// The referral's latest letter (what the case page shows).
pub async fn latest(state: &App, referral: ReferralId) -> Result<Option<GpLetter>> {
    Ok(state.store.gp_letters_for(referral).await?.pop())
}

/// Letters that need filing by hand, newest first (the admin dashboard, the GP's list).
pub async fn problems(state: &App, limit: i64) -> Result<Vec<GpLetter>> {
    Ok(state.store.gp_letter_problems(limit).await?)
}

pub async fn record_sent(state: &App, l: &GpLetter, mailbox: &str, mesh_message_id: &str) -> Result<bool> {
    let done = state.store.mark_gp_letter_sent(l.id, mailbox, mesh_message_id, Utc::now()).await?;
    if done {
        let detail = format!("letter={} mailbox={mailbox} mesh_message_id={mesh_message_id}", l.id);
        audit::record(state, &actor(), "gp_letter.sent", Target::referral(l.referral_id), AuditOutcome::Allowed, detail).await?;
    }
    Ok(done)
}

pub async fn record_delivered(state: &App, l: &GpLetter) -> Result<bool> {
    let done = state.store.mark_gp_letter_delivered(l.id, Utc::now()).await?;
    if done {
        audit::record(state, &actor(), "gp_letter.delivered", Target::referral(l.referral_id), AuditOutcome::Allowed, format!("letter={}", l.id)).await?;
    }
    Ok(done)
}

pub async fn record_filed(state: &App, l: &GpLetter) -> Result<bool> {
    let done = state.store.mark_gp_letter_filed(l.id, Utc::now()).await?;
    if done {
        audit::record(state, &actor(), "gp_letter.filed", Target::referral(l.referral_id), AuditOutcome::Allowed, format!("letter={}", l.id)).await?;
    }
    Ok(done)
}

/// The letter will not reach the record by itself: marks it (`NotSent` or `Failed`, with the
/// reason) and, in the same transaction, emails the referrer to file it by hand.
pub async fn record_failure(state: &App, l: &GpLetter, status: GpLetterStatus, reason: &str) -> Result<bool> {
    let referral = state.store.get_referral(l.referral_id).await?;
    let referrer = state.store.get_user(referral.referrer_id).await?;
    let notice = OutboxMessage {
        channel: Channel::Email,
        recipient: referrer.email.clone(),
        template: Template::GpLetterNotFiled,
        link: crate::notices::referral_link(state, &referral),
        referral_id: Some(referral.id),
        dedupe_key: Some(format!("{}:{}", Template::GpLetterNotFiled.name(), l.id)),
    };
    let done = state.store.mark_gp_letter_failed(l.id, status, reason, Some(&notice), Utc::now()).await?;
    if done {
        let detail = format!("letter={} status={} reason={reason}", l.id, status.as_str());
        audit::record(state, &actor(), "gp_letter.failed", Target::referral(l.referral_id), AuditOutcome::Failed, detail).await?;
    }
    Ok(done)
}
