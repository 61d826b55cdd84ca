//! Saved phrases for service admins: the text their consultants insert into an outcome's
//! management plan and safety-netting. Thin adapter over [`telederm_app::phrases`].

use askama::Template;
use axum::Router;
use axum::extract::{OriginalUri, Path, State};
use axum::routing::{get, post};
use telederm_app::phrases::{self, PhraseBody};
use telederm_domain::organisation::Role;

use super::form::FormData;
use super::views::Nav;
use super::{PageError, PageResult, Viewer, html, see_other};
use crate::AppState;
use crate::error::{ApiError, Code};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/phrases", get(page).post(create))
        .route("/admin/phrases/{id}", post(update))
        .route("/admin/phrases/{id}/delete", post(delete))
}

pub struct PhraseRow {
    pub id: String,
    pub kind: String,
    pub kind_label: &'static str,
    pub title: String,
    pub body: String,
    pub position: i64,
}

pub struct ServicePhrases {
    pub id: String,
    pub name: String,
    pub phrases: Vec<PhraseRow>,
}

#[derive(Template)]
#[template(path = "admin_phrases.html")]
struct PhrasesPage {
    nav: Nav,
    services: Vec<ServicePhrases>,
    kinds: Vec<(&'static str, &'static str)>,
    flash: String,
    error: String,
}

fn kind_label(kind: &str) -> &'static str {
    phrases::KINDS.iter().find(|(k, _)| *k == kind).map_or("Other", |(_, l)| l)
}

async fn page(State(state): State<AppState>, v: Viewer, uri: OriginalUri) -> PageResult {
    if v.user.role != Role::ServiceAdmin {
        return Err(PageError(ApiError::forbidden("Saved phrases are edited by the service's admins.")));
    }
    let q = FormData::from_query(uri.query().unwrap_or(""));
    let mut services = Vec::new();
    for sid in &v.user.services {
        let Some(policy) = state.policies.get(sid) else { continue };
        let rows = phrases::list(&state, &v.user, sid).await?;
        services.push(ServicePhrases {
            id: sid.clone(),
            name: policy.name.clone(),
            phrases: rows
                .into_iter()
                .map(|p| PhraseRow { id: p.id.to_string(), kind_label: kind_label(&p.kind), kind: p.kind, title: p.title, body: p.body, position: p.position })
                .collect(),
        });
    }
    Ok(html(&PhrasesPage {
        nav: Nav::for_viewer(&v, "/admin/phrases"),
        services,
        kinds: phrases::KINDS.to_vec(),
        flash: match q.get("done") {
            "added" => "The phrase was added.".into(),
            "saved" => "The phrase was saved.".into(),
            "deleted" => "The phrase was deleted.".into(),
            _ => String::new(),
        },
        error: q.get("error").to_string(),
    }))
}

fn body_of(form: &FormData) -> Result<PhraseBody, ApiError> {
    let position = match form.opt("position") {
        None => 0,
        Some(p) => p.parse().map_err(|_| ApiError::new(Code::InvalidPhrase, "The order is a whole number (1 comes first)."))?,
    };
    Ok(PhraseBody { kind: form.get("kind").to_string(), title: form.get("title").to_string(), body: form.get("body").to_string(), position })
}

/// Back to the page with the refusal shown (a form mistake), or the error page (not allowed).
fn back(e: ApiError) -> PageResult {
    if e.is_client_error() && !matches!(e.code, Code::NotFound | Code::Forbidden) {
        let msg: String = form_urlencoded::byte_serialize(e.message.as_bytes()).collect();
        return Ok(see_other(&format!("/admin/phrases?error={msg}#error")));
    }
    Err(e.into())
}

async fn create(State(state): State<AppState>, v: Viewer, form: FormData) -> PageResult {
    v.check(&form)?;
    let body = match body_of(&form) {
        Ok(b) => b,
        Err(e) => return back(e),
    };
    match phrases::save(&state, &v.user, form.get("service"), None, body).await {
        Ok(_) => Ok(see_other("/admin/phrases?done=added")),
        Err(e) => back(e),
    }
}

async fn update(State(state): State<AppState>, v: Viewer, Path(id): Path<String>, form: FormData) -> PageResult {
    v.check(&form)?;
    let body = match body_of(&form) {
        Ok(b) => b,
        Err(e) => return back(e),
    };
    match phrases::save(&state, &v.user, form.get("service"), Some(&id), body).await {
        Ok(_) => Ok(see_other("/admin/phrases?done=saved")),
        Err(e) => back(e),
    }
}

async fn delete(State(state): State<AppState>, v: Viewer, Path(id): Path<String>, form: FormData) -> PageResult {
    v.check(&form)?;
    match phrases::delete(&state, &v.user, form.get("service"), &id).await {
        Ok(()) => Ok(see_other("/admin/phrases?done=deleted")),
        Err(e) => back(e),
    }
}
