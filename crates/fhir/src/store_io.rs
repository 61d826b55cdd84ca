//! Loading referrals from the store into [`ReferralRecord`]s, and writing imported referrals into
//! the store (creating the organisations and users they name when the installation lacks them).

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;
use telederm_domain::organisation::{OrganisationKind, User};
use telederm_domain::{OrganisationId, ReferralId, UserId};
use telederm_store::blobs::BlobStore;
use telederm_store::{ReferralFilter, Store, StoreError};

use crate::export::{ExportOptions, Photo, ReferralRecord};
use crate::import::{ImportOptions, ImportedReferral, Issue, read_bundle};

/// Where referrals come from: the store, the blob store and the services' display names.
#[derive(Clone)]
pub struct Sources<'a> {
    pub store: &'a Store,
    pub blobs: &'a BlobStore,
    /// Service id → display name (from the service policies). Missing names show the id.
    pub service_names: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("referral not found")]
    NotFound,
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("blob store: {0}")]
    Blob(#[from] telederm_store::blobs::BlobError),
}

/// Everything one referral's Bundle needs.
pub async fn load_record(src: &Sources<'_>, id: ReferralId) -> Result<ReferralRecord, LoadError> {
    let referral = match src.store.get_referral(id).await {
        Ok(r) => r,
        Err(StoreError::NotFound) => return Err(LoadError::NotFound),
        Err(e) => return Err(e.into()),
    };
    let orgs = src.store.list_organisations().await?;
    let practice = orgs.iter().find(|o| o.id == referral.practice_id).cloned().ok_or(StoreError::NotFound)?;
    let provider = orgs
        .iter()
        .find(|o| o.kind == OrganisationKind::Provider && o.services.contains(&referral.service_id))
        .cloned();
    let photos_rec = src.store.list_photos(id).await?;
    let messages = src.store.list_messages(id).await?;
    let mut wanted: Vec<UserId> = vec![referral.referrer_id];
    wanted.extend(referral.assignee_id);
    wanted.extend(referral.outcome.as_ref().map(|o| o.recorded_by));
    wanted.extend(messages.iter().filter_map(|m| m.author_id));
    wanted.extend(photos_rec.iter().filter_map(|p| p.uploaded_by));
    let mut users = Vec::new();
    for u in wanted {
        if users.iter().any(|x: &User| x.id == u) {
            continue;
        }
        match src.store.get_user(u).await {
            Ok(user) => users.push(user),
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let mut photos = Vec::with_capacity(photos_rec.len());
    for record in photos_rec {
        let bytes = src.blobs.get(&record.attachment_key).await?;
        photos.push(Photo { record, bytes });
    }
    Ok(ReferralRecord {
        service_name: src.service_names.get(&referral.service_id).cloned(),
        referral,
        practice,
        provider,
        users,
        photos,
        messages,
    })
}

/// Every referral in the installation, oldest first.
pub async fn load_all(src: &Sources<'_>) -> Result<Vec<ReferralRecord>, LoadError> {
    let mut ids = Vec::new();
    let mut offset = 0;
    loop {
        let page = src
            .store
            .list_referrals(&ReferralFilter { limit: Some(1000), offset: Some(offset), ..Default::default() })
            .await?;
        if page.is_empty() {
            break;
        }
        offset += page.len() as i64;
        ids.extend(page.into_iter().map(|s| (s.created_at, s.id)));
    }
    ids.sort();
    ids.dedup();
    let mut out = Vec::with_capacity(ids.len());
    for (_, id) in ids {
        out.push(load_record(src, id).await?);
    }
    Ok(out)
}

/// `ServiceRequest/{id}/$everything` from the store.
pub async fn everything(src: &Sources<'_>, id: ReferralId, opts: &ExportOptions) -> Result<Value, LoadError> {
    Ok(crate::export::everything(&load_record(src, id).await?, opts))
}

/// The `collection` Bundle of every referral.
pub async fn export_all(src: &Sources<'_>, opts: &ExportOptions) -> Result<Value, LoadError> {
    Ok(crate::export::bundle("collection", &load_all(src).await?, opts))
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The Bundle is not valid: every problem, for an OperationOutcome.
    #[error("the Bundle has {} problem(s)", .0.len())]
    Invalid(Vec<Issue>),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("blob store: {0}")]
    Blob(#[from] telederm_store::blobs::BlobError),
}

impl ImportError {
    /// The OperationOutcome for this error.
    pub fn operation_outcome(&self) -> Value {
        match self {
            ImportError::Invalid(issues) => crate::import::operation_outcome(issues),
            other => crate::import::operation_outcome(&[Issue {
                code: "exception",
                expression: "Bundle".into(),
                diagnostics: other.to_string(),
            }]),
        }
    }
}

/// Password hash of users created by an import: not a valid hash, so they cannot sign in until an
/// administrator sets a password.
pub const NO_PASSWORD: &str = "!imported-no-password";

/// Reads a Bundle and creates its referrals. Nothing is written unless the whole Bundle is valid
/// and none of its referrals exists already.
pub async fn import_bundle(src: &Sources<'_>, bundle: &Value, opts: &ImportOptions) -> Result<Vec<ReferralId>, ImportError> {
    let imported = read_bundle(bundle, opts).map_err(ImportError::Invalid)?;
    let mut issues = Vec::new();
    for (i, r) in imported.iter().enumerate() {
        match src.store.get_referral(r.referral.id).await {
            Ok(_) => issues.push(Issue {
                code: "duplicate",
                expression: format!("ServiceRequest[{i}].identifier"),
                diagnostics: format!("referral {} already exists in this installation", r.referral.id),
            }),
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if !issues.is_empty() {
        return Err(ImportError::Invalid(issues));
    }
    let mut ids = Vec::new();
    for r in imported {
        ids.push(write_one(src, r).await?);
    }
    Ok(ids)
}

async fn write_one(src: &Sources<'_>, imp: ImportedReferral) -> Result<ReferralId, ImportError> {
    let ImportedReferral { mut referral, practice, provider, users, photos, messages } = imp;
    let mut org_ids: HashMap<OrganisationId, OrganisationId> = HashMap::new();
    for org in [Some(practice), provider].into_iter().flatten() {
        let id = match src.store.organisation_by_ods(&org.ods_code).await? {
            Some(existing) => existing.id,
            None => {
                src.store.create_organisation(&org).await?;
                org.id
            }
        };
        org_ids.insert(org.id, id);
    }
    let mut user_ids: HashMap<UserId, UserId> = HashMap::new();
    for mut u in users {
        let id = match src.store.user_by_email(&u.email).await? {
            Some((existing, _)) => existing.id,
            None => {
                u.organisation_id = org_ids.get(&u.organisation_id).copied().unwrap_or(u.organisation_id);
                src.store.create_user(&u, NO_PASSWORD).await?;
                u.id
            }
        };
        user_ids.insert(u.id, id);
    }
    let map_user = |u: UserId| user_ids.get(&u).copied().unwrap_or(u);
    referral.practice_id = org_ids.get(&referral.practice_id).copied().unwrap_or(referral.practice_id);
    referral.referrer_id = map_user(referral.referrer_id);
    referral.assignee_id = referral.assignee_id.map(map_user);
    if let Some(o) = &mut referral.outcome {
        o.recorded_by = map_user(o.recorded_by);
    }
    src.store.insert_referral(&referral).await?;
    for mut p in photos {
        src.blobs.put(p.bytes).await?;
        p.record.uploaded_by = p.record.uploaded_by.map(map_user);
        src.store.insert_photo(&p.record).await?;
    }
    for mut m in messages {
        m.author_id = m.author_id.map(map_user);
        src.store.update_referral(&mut referral, None, Some(&m)).await?;
    }
    Ok(referral.id)
}
