//! Teaching cases (issue 17): the list and a case for referrers, consultants and service admins,
//! and the consultant's mark / unmark forms on the case page. Adapters over
//! [`telederm_app::teaching`].

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use telederm_domain::teaching::TeachingCase;

use super::form::FormData;
use super::views::{self, Nav};
use super::{PageResult, Viewer, back_to_case, html, see_other};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/teaching", get(list))
        .route("/teaching/{id}", get(detail))
        .route("/referrals/{id}/teaching", post(mark))
        .route("/referrals/{id}/teaching/remove", post(unmark))
}

/// A teaching case as the pages show it.
pub struct CaseView {
    pub id: String,
    pub service: String,
    pub note: String,
    pub patient: String,
    pub sites: String,
    pub outcome: &'static str,
    pub diagnosis: String,
    pub marked: String,
    /// (photo URL, alt text)
    pub photos: Vec<(String, String)>,
}

pub fn view(state: &AppState, c: &TeachingCase) -> CaseView {
    let sex = match c.sex {
        telederm_domain::patient::Sex::Female => "Female",
        telederm_domain::patient::Sex::Male => "Male",
        telederm_domain::patient::Sex::Other => "Other sex",
        telederm_domain::patient::Sex::Unknown => "Sex not recorded",
    };
    CaseView {
        id: c.id.to_string(),
        service: state.policies.get(&c.service_id).map(|p| p.name.clone()).unwrap_or_else(|| c.service_id.clone()),
        note: c.note.clone(),
        patient: format!("{sex}, aged {}", c.age_band),
        sites: if c.body_sites.is_empty() { "Not recorded".into() } else { c.body_sites.join(", ") },
        outcome: c.outcome.label(),
        diagnosis: if c.diagnosis.is_empty() { "Not recorded".into() } else { c.diagnosis.clone() },
        marked: views::date(c.marked_at.date_naive()),
        photos: c
            .photos
            .iter()
            .enumerate()
            .map(|(i, p)| (format!("/api/v1/teaching/{}/photos/{}", c.id, p.id), format!("Photo {} ({})", i + 1, p.kind.replace('_', "-"))))
            .collect(),
    }
}

#[derive(Template)]
#[template(path = "teaching_list.html")]
struct ListPage {
    nav: Nav,
    cases: Vec<CaseView>,
}

async fn list(State(state): State<AppState>, v: Viewer) -> PageResult {
    let cases = telederm_app::teaching::list(&state, &v.user).await?;
    Ok(html(&ListPage { nav: Nav::for_viewer(&v, "/teaching"), cases: cases.iter().map(|c| view(&state, c)).collect() }))
}

#[derive(Template)]
#[template(path = "teaching_case.html")]
struct CasePage {
    nav: Nav,
    c: CaseView,
}

async fn detail(State(state): State<AppState>, v: Viewer, Path(id): Path<String>) -> PageResult {
    let case = telederm_app::teaching::get(&state, &v.user, &id).await?;
    Ok(html(&CasePage { nav: Nav::for_viewer(&v, "/teaching"), c: view(&state, &case) }))
}

async fn mark(State(state): State<AppState>, v: Viewer, Path(id): Path<String>, form: FormData) -> PageResult {
    v.check(&form)?;
    match telederm_app::teaching::mark(&state, &v.user, &id, form.get("teaching_note")).await {
        Ok(_) => Ok(see_other(&format!("/referrals/{id}?done=teaching#teaching"))),
        Err(e) => back_to_case(&id, "teaching", e),
    }
}

async fn unmark(State(state): State<AppState>, v: Viewer, Path(id): Path<String>, form: FormData) -> PageResult {
    v.check(&form)?;
    match telederm_app::teaching::unmark(&state, &v.user, &id).await {
        Ok(()) => Ok(see_other(&format!("/referrals/{id}?done=untaught#teaching"))),
        Err(e) => back_to_case(&id, "teaching", e),
    }
}
