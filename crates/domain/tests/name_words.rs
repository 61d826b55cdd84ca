//! The words a patient's name is found by (`GET /api/v1/referrals?q=`): what a GP types must find
//! the names they mean, whatever the case, punctuation or order.

use telederm_domain::patient::name_words;

#[test]
fn names_split_into_lower_case_words() {
    assert_eq!(name_words("Ada Lovelace"), vec!["ada", "lovelace"]);
    assert_eq!(name_words("  MARY   Seacole "), vec!["mary", "seacole"]);
    assert_eq!(name_words("Lovelace, Ada"), vec!["lovelace", "ada"]);
}

#[test]
fn hyphens_split_and_apostrophes_join() {
    assert_eq!(name_words("Anne-Marie Smith-Jones"), vec!["anne", "marie", "smith", "jones"]);
    assert_eq!(name_words("Siobhan O'Brien"), vec!["siobhan", "obrien"]);
    // The typographic apostrophe phones insert is the same as the typed one.
    assert_eq!(name_words("Siobhan O\u{2019}Brien"), vec!["siobhan", "obrien"]);
}

#[test]
fn letters_beyond_ascii_are_kept_and_lower_cased() {
    assert_eq!(name_words("Zoë ÅSTRÖM"), vec!["zoë", "åström"]);
    assert_eq!(name_words("Nguyễn Thị"), vec!["nguyễn", "thị"]);
}

#[test]
fn repeated_words_count_once_and_punctuation_alone_is_no_word() {
    assert_eq!(name_words("John John"), vec!["john"]);
    assert_eq!(name_words("%_-'"), Vec::<String>::new());
    assert_eq!(name_words(""), Vec::<String>::new());
}
