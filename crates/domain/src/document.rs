//! Documents on a referral (issue 14; seed 004: "along with the referral letter from your GP and
//! your consent form"): PDF attachments with a kind and an optional title. Pure rules: what a
//! document is, how its bytes are recognised as PDF, and its title's limits.

use serde::{Deserialize, Serialize};

/// What a document on a referral is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    /// The GP's referral letter.
    ReferralLetter,
    /// The patient's signed consent form.
    ConsentForm,
    Other,
}

impl DocumentKind {
    pub const ALL: [DocumentKind; 3] = [DocumentKind::ReferralLetter, DocumentKind::ConsentForm, DocumentKind::Other];

    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::ReferralLetter => "referral_letter",
            DocumentKind::ConsentForm => "consent_form",
            DocumentKind::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<DocumentKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s.trim())
    }

    /// How a person names the kind.
    pub fn label(self) -> &'static str {
        match self {
            DocumentKind::ReferralLetter => "Referral letter",
            DocumentKind::ConsentForm => "Consent form",
            DocumentKind::Other => "Other document",
        }
    }
}

/// The longest title a document may have, in characters.
pub const MAX_TITLE_CHARS: usize = 200;

/// Whether `bytes` are a PDF file by their content: the `%PDF-` header, which the PDF standard
/// (ISO 32000-1, 7.5.2) puts at the start of the file (leading whitespace is tolerated). Some
/// readers accept other bytes before it; this check does not, so a file that is something else
/// with "%PDF-" inside (an HTML page) is refused. The name and the declared type are never trusted.
pub fn is_pdf(bytes: &[u8]) -> bool {
    let start = bytes.iter().take(64).position(|b| !b.is_ascii_whitespace()).unwrap_or(bytes.len());
    bytes[start..].starts_with(b"%PDF-")
}

/// A title as stored: trimmed, `None` when empty; `Err` when longer than [`MAX_TITLE_CHARS`].
pub fn normalise_title(title: Option<&str>) -> Result<Option<String>, String> {
    let Some(t) = title.map(str::trim).filter(|t| !t.is_empty()) else { return Ok(None) };
    if t.chars().count() > MAX_TITLE_CHARS {
        return Err(format!("The document's title is longer than {MAX_TITLE_CHARS} characters; shorten it."));
    }
    if t.chars().any(char::is_control) {
        return Err("The document's title has control characters; type it again.".into());
    }
    Ok(Some(t.to_string()))
}

/// A safe download file name for a document: its title (or kind) in letters, digits and dashes,
/// ending `.pdf`.
pub fn file_name(kind: DocumentKind, title: Option<&str>) -> String {
    let base = title.unwrap_or(kind.as_str());
    let mut out = String::new();
    for c in base.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-');
    let out: String = out.chars().take(80).collect();
    format!("{}.pdf", if out.is_empty() { kind.as_str().replace('_', "-") } else { out })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdf_is_recognised_by_its_header_only() {
        assert!(is_pdf(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"));
        // Whitespace before the header is tolerated; anything else is not.
        assert!(is_pdf(b"\n\n%PDF-1.4\n"));
        assert!(!is_pdf(b"junk%PDF-1.4\n"));
        assert!(!is_pdf(b"\xff\xd8\xff\xe0 a JPEG"));
        assert!(!is_pdf(b"<html>%PDF</html>"));
        assert!(!is_pdf(b""));
        let mut late = vec![b' '; 1100];
        late.extend_from_slice(b"%PDF-1.7");
        assert!(!is_pdf(&late));
    }

    #[test]
    fn kinds_and_titles() {
        for k in DocumentKind::ALL {
            assert_eq!(DocumentKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(DocumentKind::parse("letter"), None);
        assert_eq!(normalise_title(Some("  ")), Ok(None));
        assert_eq!(normalise_title(Some(" GP letter ")), Ok(Some("GP letter".into())));
        assert!(normalise_title(Some(&"x".repeat(201))).is_err());
        assert_eq!(file_name(DocumentKind::ConsentForm, None), "consent-form.pdf");
        assert_eq!(file_name(DocumentKind::Other, Some("Letter from Dr Ada / 2026")), "letter-from-dr-ada-2026.pdf");
        assert_eq!(file_name(DocumentKind::Other, Some("\"\";")), "other.pdf");
    }
}
