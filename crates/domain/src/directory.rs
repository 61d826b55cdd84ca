//! The deployment-wide directory of onward services (issue 14): the places a consultant can send a
//! patient on to, not only the services Telederm runs ("your GP offering you a choice of local
//! services", seed 003). Each entry has a name, its provider, the provider's ODS code and what it
//! takes. Read from `directory.toml` beside the service policies (`docs/services.md`), or the
//! built-in example entries.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::policy::{PolicyError, PolicyErrorKind, line_of_nth_table, line_of_offset};

/// The file's name in the services directory.
pub use crate::policy::DIRECTORY_FILE as FILE_NAME;

const BUILTIN_TOML: &str = include_str!("../../../services/directory.toml");

/// One onward service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DirectoryEntry {
    /// Stable id, recorded on an outcome (`onward_service`): lowercase letters, digits, hyphens.
    pub id: String,
    /// The service's name, e.g. "Dermatology outpatients".
    pub name: String,
    /// Who runs it, e.g. "Homerton Healthcare NHS Foundation Trust".
    pub provider: String,
    /// The provider's (or site's) ODS code: 3 to 6 capital letters and digits, e.g. `RQX`.
    pub ods_code: String,
    /// What it takes, in a sentence (conditions, ages, area).
    pub takes: String,
    /// Where to read more or how to refer (https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// An example entry shipped with Telederm, to be replaced by the deployment's own.
    #[serde(default)]
    pub example: bool,
}

impl DirectoryEntry {
    /// "Name, Provider": how letters and pages name the entry.
    pub fn display(&self) -> String {
        format!("{}, {}", self.name, self.provider)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    service: Vec<DirectoryEntry>,
}

/// The directory: entries in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Directory {
    pub services: Vec<DirectoryEntry>,
}

/// Whether `s` looks like an ODS organisation or site code: 3 to 6 capital letters and digits with
/// at least one letter (trusts `RQX`, `R1H`; sites `RQX01`; practices `F84003`).
pub fn is_ods_code(s: &str) -> bool {
    (3..=6).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        && s.bytes().any(|b| b.is_ascii_uppercase())
}

fn is_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.split('-').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
}

impl Directory {
    /// Parses and checks a directory file. `file_name` is only used in errors, which name the
    /// line and say what to change.
    pub fn from_toml(file_name: &str, text: &str) -> Result<Directory, PolicyError> {
        let file: File = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|span| line_of_offset(text, span.start));
            PolicyError::new(PolicyErrorKind::Syntax, file_name, line, e.message().trim().replace('\n', "; "))
        })?;
        let mut ids = BTreeSet::new();
        for (n, e) in file.service.iter().enumerate() {
            let line = line_of_nth_table(text, "service", n);
            let bad = |reason: String| Err(PolicyError::new(PolicyErrorKind::Invalid, file_name, line, reason));
            if !is_id(&e.id) {
                return bad(format!("id {:?} must be 1-64 lowercase letters, digits and single hyphens, e.g. \"homerton-dermatology\"", e.id));
            }
            if !ids.insert(e.id.clone()) {
                return Err(PolicyError::new(PolicyErrorKind::DuplicateId, file_name, line, format!("id {:?} is listed twice", e.id)));
            }
            if !is_ods_code(&e.ods_code) {
                return bad(format!("{}: ods_code {:?} is not an ODS code (3 to 6 capital letters and digits, e.g. \"RQX\")", e.id, e.ods_code));
            }
            for (field, value) in [("name", &e.name), ("provider", &e.provider), ("takes", &e.takes)] {
                if value.trim().is_empty() {
                    return bad(format!("{}: `{field}` must not be empty", e.id));
                }
            }
            if e.url.as_deref().is_some_and(|u| !u.starts_with("https://")) {
                return bad(format!("{}: url must start with https://", e.id));
            }
        }
        Ok(Directory { services: file.service })
    }

    /// The built-in example directory.
    pub fn builtin() -> Directory {
        Directory::from_toml("services/directory.toml", BUILTIN_TOML).unwrap_or_else(|e| panic!("built-in directory is invalid (a test guards this): {e}"))
    }

    pub fn get(&self, id: &str) -> Option<&DirectoryEntry> {
        self.services.iter().find(|e| e.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_directory_loads_with_example_entries() {
        let d = Directory::builtin();
        assert!(d.services.len() >= 5);
        assert!(d.services.iter().all(|e| e.example && is_ods_code(&e.ods_code)));
        assert_eq!(d.get("homerton-dermatology-outpatients").map(|e| e.ods_code.as_str()), Some("RQX"));
    }

    #[test]
    fn ods_codes() {
        for good in ["RQX", "R1H", "RQX01", "F84003", "07T"] {
            assert!(is_ods_code(good), "{good}");
        }
        for bad in ["rqx", "RQ", "RQX0123", "R-1", "123", ""] {
            assert!(!is_ods_code(bad), "{bad}");
        }
    }

    #[test]
    fn bad_entries_are_refused_with_the_line_and_reason() {
        let entry = "[[service]]\nid = \"a\"\nname = \"N\"\nprovider = \"P\"\nods_code = \"RQX\"\ntakes = \"T\"\n";
        assert!(Directory::from_toml("d.toml", entry).is_ok());
        let e = Directory::from_toml("d.toml", &format!("{entry}colour = \"red\"\n")).unwrap_err();
        assert_eq!(e.kind, PolicyErrorKind::Syntax);
        assert!(e.to_string().contains("unknown field `colour`"), "{e}");
        let e = Directory::from_toml("d.toml", &format!("{entry}\n{}", entry.replace("RQX", "rq x").replace("\"a\"", "\"b\""))).unwrap_err();
        assert_eq!(e.to_string(), "d.toml: line 8: b: ods_code \"rq x\" is not an ODS code (3 to 6 capital letters and digits, e.g. \"RQX\")");
        let e = Directory::from_toml("d.toml", &format!("{entry}\n{entry}")).unwrap_err();
        assert_eq!(e.kind, PolicyErrorKind::DuplicateId);
    }
}
