//! Common skin conditions with their SNOMED CT concept ids: the consultant's coded diagnosis.
//!
//! A curated static list, not a terminology server: each code was checked against at least one
//! published source before it was added, and codes we could not confirm were left out (the
//! consultant can always type a free-text diagnosis instead). Sources: DICOM PS3.16 CID 4405 "Skin
//! Disorder" (psoriasis, eczema, atopic dermatitis, rosacea, lupus erythematosus, actinic keratosis,
//! atypical mole syndrome, solar degeneration) and CID 4409; public SNOMED CT-coded condition
//! pick-lists (skin cancer pick-list with subtypes; primary-care condition maps giving SNOMED CT with
//! ICD-10). Terms follow UK spelling (the SNOMED CT UK Edition's preferred terms). Concept ids are
//! stable across releases; the list is extended by adding rows with their source checked.

use serde::Serialize;

/// One condition of the list: its SNOMED CT concept id and the term shown and written in letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CodedDiagnosis {
    /// SNOMED CT concept id.
    pub code: &'static str,
    pub term: &'static str,
    /// Other names a consultant may type to find it (lower case).
    #[serde(skip)]
    pub also: &'static [&'static str],
}

const fn d(code: &'static str, term: &'static str, also: &'static [&'static str]) -> CodedDiagnosis {
    CodedDiagnosis { code, term, also }
}

/// The list, grouped: inflammatory, infective, benign and premalignant lesions, skin cancers.
pub const COMMON_SKIN_CONDITIONS: &[CodedDiagnosis] = &[
    d("9014002", "Psoriasis", &["plaque psoriasis"]),
    d("24079001", "Atopic dermatitis", &["atopic eczema"]),
    d("43116000", "Eczema", &["dermatitis"]),
    d("40275004", "Contact dermatitis", &["allergic contact", "irritant"]),
    d("50563003", "Seborrhoeic dermatitis", &["seborrheic dermatitis", "dandruff"]),
    d("398909004", "Rosacea", &["acne rosacea"]),
    d("88616000", "Acne vulgaris", &["acne"]),
    d("126485001", "Urticaria", &["hives"]),
    d("56727007", "Vitiligo", &[]),
    d("68225006", "Alopecia areata", &["hair loss"]),
    d("59393003", "Hidradenitis suppurativa", &["acne inversa"]),
    d("200936003", "Lupus erythematosus", &["discoid lupus", "cutaneous lupus"]),
    d("418363000", "Itching of skin", &["pruritus"]),
    d("43982006", "Solar degeneration", &["photodamage", "solar elastosis", "sun damage"]),
    d("128045006", "Cellulitis", &[]),
    d("48277006", "Impetigo", &[]),
    d("128869009", "Scabies", &[]),
    d("4740000", "Herpes zoster", &["shingles"]),
    d("88594005", "Herpes simplex", &["cold sore", "hsv"]),
    d("6020002", "Tinea pedis", &["athlete's foot", "fungal"]),
    d("414941008", "Onychomycosis", &["fungal nail", "tinea unguium"]),
    d("394726009", "Seborrhoeic keratosis", &["seborrheic keratosis", "seborrhoeic wart", "basal cell papilloma"]),
    d("201101007", "Actinic keratosis", &["solar keratosis"]),
    d("254818000", "Dysplastic naevus", &["atypical naevus", "dysplastic nevus", "mole"]),
    d("254819008", "Atypical mole syndrome", &["dysplastic naevus syndrome", "mole"]),
    d("254662007", "Keratoacanthoma", &[]),
    d("254656002", "Squamous cell carcinoma in situ of skin", &["bowen's disease", "bowens disease", "scc in situ"]),
    d("254701007", "Basal cell carcinoma of skin", &["bcc", "rodent ulcer"]),
    d("716274007", "Nodular basal cell carcinoma", &["bcc"]),
    d("403914000", "Superficial basal cell carcinoma", &["bcc"]),
    d("254651007", "Squamous cell carcinoma of skin", &["scc", "cscc"]),
    d("93655004", "Malignant melanoma of skin", &["melanoma", "mm"]),
    d("189758001", "Melanoma in situ", &["melanoma"]),
    d("302836005", "Lentigo maligna", &["hutchinson's melanotic freckle", "melanoma"]),
    d("302837001", "Lentigo maligna melanoma", &["melanoma", "lmm"]),
    d("253001006", "Merkel cell carcinoma of skin", &["mcc"]),
    d("276799004", "Dermatofibrosarcoma protuberans", &["dfsp"]),
    d("109386008", "Kaposi's sarcoma of skin", &["kaposi"]),
    d("400001003", "Primary cutaneous lymphoma", &["mycosis fungoides", "lymphoma"]),
];

/// The condition with this SNOMED CT concept id, if it is on the list.
pub fn by_code(code: &str) -> Option<&'static CodedDiagnosis> {
    COMMON_SKIN_CONDITIONS.iter().find(|c| c.code == code.trim())
}

/// Conditions whose term, other names or code contain every word of `query` (case-insensitive),
/// terms that start with the query first; the whole list for an empty query.
pub fn search(query: &str) -> Vec<&'static CodedDiagnosis> {
    let q = query.trim().to_lowercase();
    let words: Vec<&str> = q.split_whitespace().collect();
    let mut hits: Vec<&'static CodedDiagnosis> = COMMON_SKIN_CONDITIONS
        .iter()
        .filter(|c| {
            let hay = format!("{} {} {}", c.term.to_lowercase(), c.also.join(" "), c.code);
            words.iter().all(|w| hay.contains(w))
        })
        .collect();
    hits.sort_by_key(|c| !c.term.to_lowercase().starts_with(&q));
    hits
}

/// A patient information page the consultant can point the GP and patient to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Leaflet {
    /// A stable identifier for forms (`bad-a-z`, `nhs-psoriasis`).
    pub id: &'static str,
    pub title: &'static str,
    pub url: &'static str,
    /// The SNOMED CT codes of [`COMMON_SKIN_CONDITIONS`] it is about (offered first for them).
    #[serde(skip)]
    pub codes: &'static [&'static str],
}

const fn l(id: &'static str, title: &'static str, url: &'static str, codes: &'static [&'static str]) -> Leaflet {
    Leaflet { id, title, url, codes }
}

/// Curated patient information: the British Association of Dermatologists' patient hub (its A-Z of
/// patient information leaflets) and NHS.UK's condition pages for the commonest conditions. Only
/// index and condition pages whose addresses are long-standing are listed.
pub const LEAFLETS: &[Leaflet] = &[
    l("bad-a-z", "British Association of Dermatologists: patient information leaflets (A to Z)", "https://www.skinhealthinfo.org.uk/", &[]),
    l("nhs-psoriasis", "NHS: Psoriasis", "https://www.nhs.uk/conditions/psoriasis/", &["9014002"]),
    l("nhs-atopic-eczema", "NHS: Atopic eczema", "https://www.nhs.uk/conditions/atopic-eczema/", &["24079001", "43116000"]),
    l("nhs-contact-dermatitis", "NHS: Contact dermatitis", "https://www.nhs.uk/conditions/contact-dermatitis/", &["40275004"]),
    l("nhs-seborrhoeic-dermatitis", "NHS: Seborrhoeic dermatitis", "https://www.nhs.uk/conditions/seborrhoeic-dermatitis/", &["50563003"]),
    l("nhs-acne", "NHS: Acne", "https://www.nhs.uk/conditions/acne/", &["88616000"]),
    l("nhs-rosacea", "NHS: Rosacea", "https://www.nhs.uk/conditions/rosacea/", &["398909004"]),
    l("nhs-hives", "NHS: Hives (urticaria)", "https://www.nhs.uk/conditions/hives/", &["126485001"]),
    l("nhs-vitiligo", "NHS: Vitiligo", "https://www.nhs.uk/conditions/vitiligo/", &["56727007"]),
    l("nhs-cellulitis", "NHS: Cellulitis", "https://www.nhs.uk/conditions/cellulitis/", &["128045006"]),
    l("nhs-impetigo", "NHS: Impetigo", "https://www.nhs.uk/conditions/impetigo/", &["48277006"]),
    l("nhs-scabies", "NHS: Scabies", "https://www.nhs.uk/conditions/scabies/", &["128869009"]),
    l("nhs-shingles", "NHS: Shingles", "https://www.nhs.uk/conditions/shingles/", &["4740000"]),
    l("nhs-athletes-foot", "NHS: Athlete's foot", "https://www.nhs.uk/conditions/athletes-foot/", &["6020002"]),
    l("nhs-fungal-nail", "NHS: Fungal nail infection", "https://www.nhs.uk/conditions/fungal-nail-infection/", &["414941008"]),
    l("nhs-actinic-keratoses", "NHS: Actinic keratoses (solar keratoses)", "https://www.nhs.uk/conditions/actinic-keratoses/", &["201101007"]),
    l("nhs-melanoma", "NHS: Melanoma skin cancer", "https://www.nhs.uk/conditions/melanoma-skin-cancer/", &["93655004", "189758001", "302836005", "302837001"]),
    l("nhs-non-melanoma", "NHS: Non-melanoma skin cancer", "https://www.nhs.uk/conditions/non-melanoma-skin-cancer/", &["254701007", "716274007", "403914000", "254651007", "254656002"]),
];

pub fn leaflet(id: &str) -> Option<&'static Leaflet> {
    LEAFLETS.iter().find(|l| l.id == id)
}

/// The condition whose term is exactly `text` (any case, surrounding spaces ignored): how a term
/// picked from the form's list becomes a coded diagnosis.
pub fn by_term(text: &str) -> Option<&'static CodedDiagnosis> {
    let t = text.trim();
    COMMON_SKIN_CONDITIONS.iter().find(|c| c.term.eq_ignore_ascii_case(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SNOMED CT identifiers end with a Verhoeff check digit; a typing slip in the list fails here.
    fn verhoeff_ok(id: &str) -> bool {
        const D: [[u8; 10]; 10] = [
            [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
            [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
            [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
            [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
            [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
            [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
            [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
            [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
            [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
            [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
        ];
        const P: [[u8; 10]; 8] = [
            [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
            [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
            [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
            [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
            [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
            [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
            [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
            [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
        ];
        let mut c = 0u8;
        for (i, ch) in id.bytes().rev().enumerate() {
            c = D[c as usize][P[i % 8][(ch - b'0') as usize] as usize];
        }
        c == 0
    }

    #[test]
    fn every_code_is_a_well_formed_snomed_concept_id_and_unique() {
        assert!(COMMON_SKIN_CONDITIONS.len() >= 35);
        for c in COMMON_SKIN_CONDITIONS {
            assert!(c.code.len() >= 6 && c.code.len() <= 18 && c.code.bytes().all(|b| b.is_ascii_digit()), "{c:?}");
            assert!(verhoeff_ok(c.code), "{} fails the SNOMED CT check digit", c.code);
            // Partition identifier (second and third digits from the right): 00 = a concept.
            assert_eq!(&c.code[c.code.len() - 3..c.code.len() - 1], "00", "{} is not a concept id", c.code);
            assert_eq!(COMMON_SKIN_CONDITIONS.iter().filter(|x| x.code == c.code).count(), 1, "{} twice", c.code);
        }
    }

    #[test]
    fn leaflets_are_https_and_name_listed_codes() {
        for l in LEAFLETS {
            assert!(l.url.starts_with("https://"), "{l:?}");
            for c in l.codes {
                assert!(by_code(c).is_some(), "{} names {c}, not on the list", l.id);
            }
            assert_eq!(leaflet(l.id), Some(l));
        }
        assert_eq!(by_term(" psoriasis ").map(|c| c.code), Some("9014002"));
        assert!(by_term("psoriasis of the scalp").is_none());
    }

    #[test]
    fn search_finds_by_term_other_name_and_code() {
        assert_eq!(search("psoria")[0].code, "9014002");
        assert!(search("bowen").iter().any(|c| c.code == "254656002"));
        assert!(search("BCC").iter().all(|c| c.term.contains("asal cell")));
        assert_eq!(search("254701007").len(), 1);
        assert!(search("melanoma").len() >= 4);
        assert!(search("no such thing").is_empty());
        assert_eq!(search("").len(), COMMON_SKIN_CONDITIONS.len());
        assert_eq!(by_code(" 93655004 ").map(|c| c.term), Some("Malignant melanoma of skin"));
        assert!(by_code("123").is_none());
    }
}
