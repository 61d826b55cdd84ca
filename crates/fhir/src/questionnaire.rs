//! The referral proforma as a FHIR Questionnaire Telederm publishes, and the conversion of a
//! referral's clinical history and eligibility answers to and from a QuestionnaireResponse.
//!
//! Every linkId is the dotted path of the field in Telederm's JSON (`history.duration`,
//! `eligibility.patient.postcode`), so the mapping is mechanical and stable.

use serde_json::{Map, Value, json};
use telederm_domain::eligibility::BodySite;
use telederm_domain::referral::ClinicalHistory;

use crate::codes::{QUESTIONNAIRE_URL, QUESTIONNAIRE_VERSION, cs};

/// One question: linkId, text, FHIR item type, repeats, and the Telederm code system of a choice.
#[derive(Debug, Clone, Copy)]
pub struct Question {
    pub link_id: &'static str,
    pub text: &'static str,
    pub kind: &'static str,
    pub repeats: bool,
    pub options: Option<(&'static str, &'static [&'static str])>,
}

const BODY_SITES: &[&str] =
    &["breast", "perianal", "genital", "face", "scalp", "neck", "trunk", "arm", "hand", "leg", "foot", "other"];

const fn q(link_id: &'static str, text: &'static str, kind: &'static str) -> Question {
    Question { link_id, text, kind, repeats: false, options: None }
}

const fn choice(
    link_id: &'static str,
    text: &'static str,
    repeats: bool,
    system: &'static str,
    codes: &'static [&'static str],
) -> Question {
    Question { link_id, text, kind: "choice", repeats, options: Some((system, codes)) }
}

/// The questions, in order. Groups are `kind == "group"`; their children follow with the group's
/// linkId as prefix.
pub const QUESTIONS: &[Question] = &[
    q("history", "Clinical history", "group"),
    q("history.presenting_complaint", "Presenting complaint", "text"),
    q("history.duration", "How long has the problem been present?", "string"),
    Question {
        link_id: "history.body_sites",
        text: "Where on the body is the problem?",
        kind: "open-choice",
        repeats: true,
        options: Some(("body-site", BODY_SITES)),
    },
    q("history.treatments_tried", "Treatments tried so far", "text"),
    q("history.relevant_history", "Relevant past medical history", "text"),
    q("history.medication", "Current medication", "text"),
    q("history.allergies", "Allergies", "text"),
    q("eligibility", "Eligibility checklist", "group"),
    q("eligibility.referral_date", "Referral date", "date"),
    q("eligibility.patient", "Patient", "group"),
    q("eligibility.patient.date_of_birth", "Date of birth", "date"),
    q("eligibility.patient.postcode", "Postcode", "string"),
    choice("eligibility.condition", "Condition", false, "condition", &["rash", "lesion"]),
    q("eligibility.lesion_count", "Number of lesions for assessment", "integer"),
    choice("eligibility.body_sites", "Body sites", true, "body-site", BODY_SITES),
    q("eligibility.meets_2ww_criteria", "Meets urgent suspected cancer (2WW) criteria", "boolean"),
    q("eligibility.extreme_psychological_distress", "Extreme psychological distress", "boolean"),
    q("eligibility.widespread", "Widespread", "boolean"),
    q("eligibility.severe_or_systemic_or_urgent", "Severe, systemic or urgent", "boolean"),
    q("eligibility.imaging_practical", "Photography is practical", "boolean"),
    q("eligibility.safeguarding_concerns", "Safeguarding concerns", "boolean"),
    q("eligibility.has_capacity_to_consent", "Patient has capacity to consent", "boolean"),
    q("eligibility.best_interests_referral", "Referral in the patient's best interests (lacks capacity)", "boolean"),
    q("eligibility.consent_given", "Consent given", "boolean"),
    q("eligibility.known_chronic_inflammatory_condition", "Known chronic inflammatory skin condition", "boolean"),
    q("eligibility.face_identifiable_in_images", "Face identifiable in the images", "boolean"),
    q("eligibility.dermoscopic_images", "Dermoscopic images included", "boolean"),
    choice("eligibility.images_taken_by", "Images taken by", false, "image-source", &["clinician", "patient"]),
    q("eligibility.seen_face_to_face", "Patient seen face to face by the referrer", "boolean"),
];

pub fn question(link_id: &str) -> Option<&'static Question> {
    QUESTIONS.iter().find(|q| q.link_id == link_id)
}

fn children_of(prefix: &str) -> impl Iterator<Item = &'static Question> + '_ {
    QUESTIONS.iter().filter(move |q| {
        q.link_id.strip_prefix(prefix).and_then(|r| r.strip_prefix('.')).is_some_and(|r| !r.contains('.'))
    })
}

fn questionnaire_item(q: &Question) -> Value {
    let mut item = json!({ "linkId": q.link_id, "text": q.text, "type": q.kind });
    if q.repeats {
        item["repeats"] = json!(true);
    }
    if let Some((system, codes)) = q.options {
        item["answerOption"] =
            Value::Array(codes.iter().map(|c| json!({ "valueCoding": { "system": cs(system), "code": c } })).collect());
    }
    if q.kind == "group" {
        item["item"] = Value::Array(children_of(q.link_id).map(questionnaire_item).collect());
    }
    item
}

/// The Questionnaire resource Telederm publishes at [`QUESTIONNAIRE_URL`].
pub fn questionnaire() -> Value {
    json!({
        "resourceType": "Questionnaire",
        "id": "telederm-referral",
        "url": QUESTIONNAIRE_URL,
        "version": QUESTIONNAIRE_VERSION,
        "name": "TeledermReferral",
        "title": "Telederm teledermatology referral proforma",
        "status": "active",
        "subjectType": ["Patient"],
        "publisher": "Telederm",
        "description": "Clinical history and eligibility checklist a referrer completes for a teledermatology referral or Advice & Guidance request. Each linkId is the dotted path of the field in Telederm's JSON API.",
        "item": [questionnaire_item(question("history").unwrap()), questionnaire_item(question("eligibility").unwrap())]
    })
}

fn answer_for(q: Option<&Question>, v: &Value) -> Option<Value> {
    Some(match v {
        Value::Bool(b) => json!({ "valueBoolean": b }),
        Value::Number(n) if n.is_i64() => json!({ "valueInteger": n }),
        Value::Number(n) => json!({ "valueDecimal": n }),
        Value::String(s) => match q {
            Some(q) if q.kind == "date" => json!({ "valueDate": s }),
            Some(Question { options: Some((system, codes)), .. }) if codes.contains(&s.as_str()) => {
                json!({ "valueCoding": { "system": cs(system), "code": s } })
            }
            _ => json!({ "valueString": s }),
        },
        _ => return None,
    })
}

/// QuestionnaireResponse items for one JSON object under `prefix` (`history`, `eligibility`).
/// Known questions come first in Questionnaire order; unknown keys after them, in key order, so an
/// importer can report them. Empty strings and empty lists are left out (unanswered).
fn items_for(prefix: &str, obj: &Map<String, Value>) -> Vec<Value> {
    let known: Vec<&str> = children_of(prefix).map(|q| q.link_id).collect();
    let mut keys: Vec<String> = known
        .iter()
        .filter_map(|l| l.rsplit('.').next())
        .filter(|k| obj.contains_key(*k))
        .map(str::to_string)
        .collect();
    let unknown: Vec<String> = obj.keys().filter(|k| !keys.contains(*k)).cloned().collect();
    keys.extend(unknown);
    let mut out = Vec::new();
    for key in keys {
        let link_id = format!("{prefix}.{key}");
        let q = question(&link_id);
        let value = &obj[&key];
        let mut item = json!({ "linkId": link_id });
        if let Some(q) = q {
            item["text"] = json!(q.text);
        }
        match value {
            Value::Object(child) => {
                let children = items_for(&link_id, child);
                if children.is_empty() {
                    continue;
                }
                item["item"] = Value::Array(children);
            }
            Value::Array(values) => {
                let answers: Vec<Value> = values.iter().filter_map(|v| answer_for(q, v)).collect();
                if answers.is_empty() {
                    continue;
                }
                item["answer"] = Value::Array(answers);
            }
            Value::String(s) if s.is_empty() => continue,
            Value::Null => continue,
            v => item["answer"] = Value::Array(answer_for(q, v).into_iter().collect()),
        }
        out.push(item);
    }
    out
}

/// The QuestionnaireResponse items for a referral's history and eligibility answers.
pub fn response_items(history: &ClinicalHistory, eligibility_answers: Option<&Value>) -> Vec<Value> {
    let mut items = Vec::new();
    let Value::Object(h) = serde_json::to_value(history).expect("history serialises") else { unreachable!() };
    let h_items = items_for("history", &h);
    if !h_items.is_empty() {
        items.push(json!({ "linkId": "history", "text": "Clinical history", "item": h_items }));
    }
    if let Some(Value::Object(e)) = eligibility_answers {
        items.push(json!({ "linkId": "eligibility", "text": "Eligibility checklist", "item": items_for("eligibility", e) }));
    }
    items
}

/// A problem found reading a QuestionnaireResponse: where (FHIRPath-like) and what.
pub type Problem = (String, String);

fn answer_value(a: &Value, path: &str, problems: &mut Vec<Problem>) -> Option<Value> {
    for key in ["valueBoolean", "valueInteger", "valueDecimal", "valueDate", "valueString"] {
        if let Some(v) = a.get(key) {
            return Some(v.clone());
        }
    }
    if let Some(code) = a.pointer("/valueCoding/code") {
        return Some(code.clone());
    }
    problems.push((path.to_string(), "an answer needs a value (boolean, integer, date, string or coding)".into()));
    None
}

/// Turns QR items under `prefix` back into the JSON object they came from.
fn object_from_items(prefix: &str, items: &[Value], path: &str, problems: &mut Vec<Problem>) -> Map<String, Value> {
    let mut obj = Map::new();
    for (i, item) in items.iter().enumerate() {
        let here = format!("{path}.item[{i}]");
        let Some(link_id) = item.get("linkId").and_then(Value::as_str) else {
            problems.push((here, "item has no linkId".into()));
            continue;
        };
        let Some(key) = link_id.strip_prefix(prefix).and_then(|r| r.strip_prefix('.')).filter(|k| !k.contains('.'))
        else {
            problems.push((format!("{here}.linkId"), format!("linkId {link_id:?} does not belong under {prefix:?}")));
            continue;
        };
        let Some(q) = question(link_id) else {
            problems.push((
                format!("{here}.linkId"),
                format!("linkId {link_id:?} is not a question of {QUESTIONNAIRE_URL}"),
            ));
            continue;
        };
        let value = if q.kind == "group" {
            let children = item.get("item").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
            Value::Object(object_from_items(link_id, children, &here, problems))
        } else {
            let answers = item.get("answer").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
            let values: Vec<Value> = answers
                .iter()
                .enumerate()
                .filter_map(|(j, a)| answer_value(a, &format!("{here}.answer[{j}]"), problems))
                .collect();
            if q.repeats {
                Value::Array(values)
            } else if values.len() > 1 {
                problems.push((format!("{here}.answer"), format!("{link_id:?} takes one answer, not {}", values.len())));
                continue;
            } else {
                match values.into_iter().next() {
                    Some(v) => v,
                    None => continue,
                }
            }
        };
        obj.insert(key.to_string(), value);
    }
    obj
}

/// Reads the history and eligibility answers back from a QuestionnaireResponse's top-level items.
pub fn read_response(
    items: &[Value],
    path: &str,
    problems: &mut Vec<Problem>,
) -> (ClinicalHistory, Option<Value>) {
    let mut history = ClinicalHistory::default();
    let mut eligibility = None;
    for (i, item) in items.iter().enumerate() {
        let here = format!("{path}.item[{i}]");
        let children = item.get("item").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
        match item.get("linkId").and_then(Value::as_str) {
            Some("history") => {
                let obj = object_from_items("history", children, &here, problems);
                match serde_json::from_value::<ClinicalHistory>(Value::Object(obj)) {
                    Ok(h) => history = h,
                    Err(e) => problems.push((here, format!("clinical history: {e}"))),
                }
            }
            Some("eligibility") => {
                eligibility = Some(Value::Object(object_from_items("eligibility", children, &here, problems)));
            }
            other => problems.push((
                format!("{here}.linkId"),
                format!("top-level linkId {other:?} is not \"history\" or \"eligibility\""),
            )),
        }
    }
    (history, eligibility)
}

/// A body site's display text.
pub fn body_site_display(code: &str) -> String {
    match BodySite::parse(code) {
        Some(_) => {
            let mut c = code.chars();
            c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
        }
        None => code.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_round_trip_through_the_response() {
        let history = ClinicalHistory {
            presenting_complaint: "Itchy rash".into(),
            duration: "3 months".into(),
            body_sites: vec!["arm".into(), "behind the left ear".into()],
            ..Default::default()
        };
        let answers = json!({
            "referral_date": "2026-03-02", "patient": {"date_of_birth": "1980-01-01", "postcode": "WD17 1AB"},
            "condition": "rash", "lesion_count": 0, "body_sites": ["arm"], "widespread": false
        });
        let items = response_items(&history, Some(&answers));
        let mut problems = Vec::new();
        let (h, e) = read_response(&items, "QR", &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(h, history);
        assert_eq!(e.unwrap(), answers);
    }

    #[test]
    fn unknown_link_ids_are_reported() {
        let items = vec![json!({"linkId": "eligibility", "item": [{"linkId": "eligibility.shoe_size", "answer": [{"valueInteger": 9}]}]})];
        let mut problems = Vec::new();
        read_response(&items, "QR", &mut problems);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].1.contains("shoe_size"), "{problems:?}");
    }
}
