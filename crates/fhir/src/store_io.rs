//! Loading referrals from the store into [`ReferralRecord`]s, and writing imported referrals into
//! the store (creating the organisations and users they name when the installation lacks them).

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;
use telederm_domain::organisation::{OrganisationKind, User};
use telederm_domain::{OrganisationId, ReferralId, UserId};
use telederm_store::blobs::BlobStore;
use telederm_store::{NewAuditEntry, ReferralFilter, Store, StoreError, UserOrigin};

use crate::export::{Document, ExportOptions, Photo, ReferralRecord};
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
    let documents_rec = src.store.list_documents(id).await?;
    wanted.extend(documents_rec.iter().filter_map(|d| d.uploaded_by));
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
    let mut documents = Vec::with_capacity(documents_rec.len());
    for record in documents_rec {
        let bytes = src.blobs.get(&record.blob_key).await?;
        documents.push(Document { record, bytes });
    }
    let onward_service_name =
        referral.outcome.as_ref().and_then(|o| o.onward_service.as_ref()).and_then(|s| src.service_names.get(s)).cloned();
    Ok(ReferralRecord {
        service_name: src.service_names.get(&referral.service_id).cloned(),
        onward_service_name,
        referral,
        practice,
        provider,
        users,
        photos,
        documents,
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

/// Password hash of users created by a restore: not a valid hash, so they cannot sign in until an
/// administrator sets a password (and single sign-on never links them by email).
pub const NO_PASSWORD: &str = "!imported-no-password";

/// An operator's whole-installation restore (`telederm fhir import`, never reachable over HTTP):
/// creates the Bundle's referrals as they were, with their organisations, users (origin `import`,
/// no password), photos and messages, and `audit` (its detail gets the created ids), all in one
/// transaction. Nothing is written unless the whole Bundle is valid and none of its referrals,
/// users or organisations clashes with this installation's; a clash is an [`ImportError::Invalid`]
/// naming it, never a database error.
pub async fn import_bundle(
    src: &Sources<'_>,
    bundle: &Value,
    opts: &ImportOptions,
    mut audit: NewAuditEntry,
) -> Result<Vec<ReferralId>, ImportError> {
    let imported = read_bundle(bundle, opts).map_err(ImportError::Invalid)?;
    let mut issues = Vec::new();
    let orgs = src.store.list_organisations().await?;
    let mut org_ids: HashMap<OrganisationId, OrganisationId> = HashMap::new();
    let mut new_orgs: Vec<telederm_domain::organisation::Organisation> = Vec::new();
    let mut user_ids: HashMap<UserId, UserId> = HashMap::new();
    let mut new_users: Vec<User> = Vec::new();
    for (i, r) in imported.iter().enumerate() {
        match src.store.get_referral(r.referral.id).await {
            Ok(_) => issues.push(dup(format!("ServiceRequest[{i}].identifier"), format!("referral {} already exists in this installation", r.referral.id))),
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        for org in [Some(&r.practice), r.provider.as_ref()].into_iter().flatten() {
            if org_ids.contains_key(&org.id) {
                continue;
            }
            let by_ods = orgs.iter().chain(new_orgs.iter()).find(|o| o.ods_code.eq_ignore_ascii_case(&org.ods_code));
            let id = match by_ods {
                Some(existing) => existing.id,
                None if orgs.iter().chain(new_orgs.iter()).any(|o| o.id == org.id) => {
                    issues.push(dup("Organization.id".into(), format!("organisation id {} is already used by another organisation", org.id)));
                    continue;
                }
                None => {
                    new_orgs.push(org.clone());
                    org.id
                }
            };
            org_ids.insert(org.id, id);
        }
        for u in &r.users {
            if user_ids.contains_key(&u.id) {
                continue;
            }
            let existing = match src.store.user_by_email(&u.email).await? {
                Some((existing, _)) => Some(existing.id),
                None => new_users.iter().find(|n| n.email.eq_ignore_ascii_case(&u.email)).map(|n| n.id),
            };
            let id = match existing {
                Some(id) => id,
                None => {
                    let id_taken = match src.store.get_user(u.id).await {
                        Ok(_) => true,
                        Err(StoreError::NotFound) => new_users.iter().any(|n| n.id == u.id),
                        Err(e) => return Err(e.into()),
                    };
                    if id_taken {
                        issues.push(dup(
                            "Practitioner.id".into(),
                            format!("user id {} already belongs to another account (not {}); restore into an installation without it", u.id, u.email),
                        ));
                        continue;
                    }
                    let mut n = u.clone();
                    n.organisation_id = org_ids.get(&u.organisation_id).copied().unwrap_or(u.organisation_id);
                    new_users.push(n);
                    u.id
                }
            };
            user_ids.insert(u.id, id);
        }
    }
    if !issues.is_empty() {
        return Err(ImportError::Invalid(issues));
    }
    // Photos' blobs first (content-addressed: a failure leaves only unreferenced blobs, which the
    // orphan sweep removes), then every row in one transaction.
    for r in &imported {
        for p in &r.photos {
            src.blobs.put(p.bytes.clone()).await?;
        }
        for d in &r.documents {
            src.blobs.put(d.bytes.clone()).await?;
        }
    }
    let map_user = |u: UserId| user_ids.get(&u).copied().unwrap_or(u);
    let mut w = src.store.begin().await?;
    for org in &new_orgs {
        telederm_store::create_organisation_in(&mut w, org).await.map_err(clash)?;
    }
    for u in &new_users {
        telederm_store::create_user_in(&mut w, u, NO_PASSWORD, UserOrigin::Import).await.map_err(clash)?;
    }
    let mut ids = Vec::new();
    for imp in imported {
        let ImportedReferral { mut referral, photos, documents, messages, .. } = imp;
        referral.practice_id = org_ids.get(&referral.practice_id).copied().unwrap_or(referral.practice_id);
        referral.referrer_id = map_user(referral.referrer_id);
        referral.assignee_id = referral.assignee_id.map(map_user);
        if let Some(o) = &mut referral.outcome {
            o.recorded_by = map_user(o.recorded_by);
        }
        telederm_store::insert_referral_in(&mut w, &referral).await.map_err(clash)?;
        for mut p in photos {
            p.record.uploaded_by = p.record.uploaded_by.map(map_user);
            telederm_store::insert_photo_in(&mut w, &p.record).await.map_err(clash)?;
        }
        for mut d in documents {
            d.record.uploaded_by = d.record.uploaded_by.map(map_user);
            telederm_store::insert_document_in(&mut w, &d.record).await.map_err(clash)?;
        }
        for mut m in messages {
            m.author_id = m.author_id.map(map_user);
            telederm_store::add_message_in(&mut w, &mut referral, &m).await?;
        }
        ids.push(referral.id);
    }
    let created = ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
    audit.detail = if audit.detail.is_empty() { format!("created={created}") } else { format!("{}; created={created}", audit.detail) };
    telederm_store::audit::append_audit_in(&mut w, &audit);
    w.commit().await?;
    Ok(ids)
}

fn dup(expression: String, diagnostics: String) -> Issue {
    Issue { code: "duplicate", expression, diagnostics }
}

/// A uniqueness clash found while writing (another writer got there first) is the caller's
/// problem to report, not an internal error.
fn clash(e: StoreError) -> ImportError {
    match e {
        StoreError::Conflict(what) => ImportError::Invalid(vec![dup("Bundle".into(), what)]),
        other => other.into(),
    }
}
