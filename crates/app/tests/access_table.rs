//! Who may do what to a referral, checked against `docs/security.md` ("Roles and organisations")
//! and the referral state machine (`crates/domain/src/referral.rs`: draft -> submitted ->
//! in_review -> (awaiting_information -> in_review)* -> outcome_issued -> closed; rejected from
//! submitted or in review; withdrawn by the referrer before an outcome; photos only on a draft or
//! while more information is asked for, `docs/errors.md` `photos_locked`).
//!
//! Every expected value is written out here from those documents: the roles table is transcribed
//! row by row into [`documented_reach`], the state machine into [`FITS`]; nothing is computed with
//! `telederm_app::access`'s own helpers. Each role is tried on a referral of its own organisation
//! and of another, to a service it is assigned to and to one it is not, in every status.

use telederm_app::Code;
use telederm_app::access::{self, Capability, Scope};
use telederm_domain::OrganisationId;
use telederm_domain::organisation::{Role, User};
use telederm_domain::referral::ReferralStatus;
use telederm_domain::route::{Priority, Route};
use telederm_store::ReferralFilter;
use uuid::Uuid;

const OWN_ORG: u128 = 0x1111;
const OTHER_ORG: u128 = 0x2222;
const ASSIGNED: &str = "homerton";
const NOT_ASSIGNED: &str = "hackney-rash";

/// Every capability, listed here (not taken from `Capability::ALL`).
const CAPS: [Capability; 10] = [
    Capability::View,
    Capability::EditDraft,
    Capability::UploadPhoto,
    Capability::Submit,
    Capability::Reply,
    Capability::Withdraw,
    Capability::Close,
    Capability::Claim,
    Capability::RequestInformation,
    Capability::RecordOutcome,
];

const ROLES: [Role; 4] = [Role::Referrer, Role::Consultant, Role::ServiceAdmin, Role::SystemAdmin];

const STATUSES: [ReferralStatus; 8] = [
    ReferralStatus::Draft,
    ReferralStatus::Submitted,
    ReferralStatus::InReview,
    ReferralStatus::AwaitingInformation,
    ReferralStatus::OutcomeIssued,
    ReferralStatus::Closed,
    ReferralStatus::Rejected,
    ReferralStatus::Withdrawn,
];

fn org(n: u128) -> OrganisationId {
    OrganisationId(Uuid::from_u128(n))
}

/// A user of `role` in organisation OWN_ORG. Every role is given the assigned service, so a
/// referrer or a system admin listed on a service gains nothing from it.
fn user(role: Role) -> User {
    User {
        id: telederm_domain::UserId(Uuid::from_u128(0x9000 + role as u128)),
        email: format!("{}@example.nhs.uk", role.as_str()),
        display_name: role.as_str().to_string(),
        role,
        organisation_id: org(OWN_ORG),
        services: vec![ASSIGNED.to_string()],
        profession: None,
    }
}

/// Where a role's permission reaches, per row of the table in `docs/security.md`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Reach {
    /// "their practice's": referrals of the user's own organisation, in any status.
    OwnPractice,
    /// "their services', once submitted": referrals to a service the user is assigned to, not drafts.
    OwnServicesOnceSubmitted,
    /// "-" or "none".
    Nobody,
}

/// The roles table of `docs/security.md`, transcribed.
fn documented_reach(role: Role, cap: Capability) -> Reach {
    use Capability as C;
    use Reach::*;
    match (role, cap) {
        // "see a referral | their practice's | their services', once submitted | their services', once submitted | none"
        (Role::Referrer, C::View) => OwnPractice,
        (Role::Consultant, C::View) => OwnServicesOnceSubmitted,
        (Role::ServiceAdmin, C::View) => OwnServicesOnceSubmitted,
        (Role::SystemAdmin, C::View) => Nobody,
        // "start, edit, upload photos, submit, reply, withdraw, close | their practice's | - | - | -"
        (Role::Referrer, C::EditDraft | C::UploadPhoto | C::Submit | C::Reply | C::Withdraw | C::Close) => OwnPractice,
        (_, C::EditDraft | C::UploadPhoto | C::Submit | C::Reply | C::Withdraw | C::Close) => Nobody,
        // "claim, ask for information, record outcome | - | their services' | - | -"
        (Role::Consultant, C::Claim | C::RequestInformation | C::RecordOutcome) => OwnServicesOnceSubmitted,
        (_, C::Claim | C::RequestInformation | C::RecordOutcome) => Nobody,
    }
}

/// What the state machine lets happen in each status (whoever asks), written out.
const FITS: [(ReferralStatus, &[Capability]); 8] = {
    use Capability as C;
    use ReferralStatus as S;
    [
        (S::Draft, &[C::View, C::EditDraft, C::UploadPhoto, C::Submit, C::Withdraw]),
        (S::Submitted, &[C::View, C::Withdraw, C::Claim, C::RecordOutcome]),
        (S::InReview, &[C::View, C::Withdraw, C::RequestInformation, C::RecordOutcome]),
        (S::AwaitingInformation, &[C::View, C::UploadPhoto, C::Reply, C::Withdraw]),
        (S::OutcomeIssued, &[C::View, C::Close]),
        (S::Closed, &[C::View]),
        (S::Rejected, &[C::View]),
        (S::Withdrawn, &[C::View]),
    ]
};

fn documented_fit(status: ReferralStatus, cap: Capability) -> bool {
    FITS.iter().find(|(s, _)| *s == status).expect("every status is in FITS").1.contains(&cap)
}

/// One referral's access-deciding parts, described.
#[derive(Debug, Clone, Copy)]
struct Case {
    own_practice: bool,
    assigned_service: bool,
    status: ReferralStatus,
}

impl Case {
    fn scope(&self) -> Scope<'static> {
        Scope {
            practice_id: org(if self.own_practice { OWN_ORG } else { OTHER_ORG }),
            service_id: if self.assigned_service { ASSIGNED } else { NOT_ASSIGNED },
            status: self.status,
        }
    }

    fn documented(&self, role: Role, cap: Capability) -> bool {
        match documented_reach(role, cap) {
            Reach::OwnPractice => self.own_practice,
            Reach::OwnServicesOnceSubmitted => self.assigned_service && self.status != ReferralStatus::Draft,
            Reach::Nobody => false,
        }
    }
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for own_practice in [true, false] {
        for assigned_service in [true, false] {
            for status in STATUSES {
                out.push(Case { own_practice, assigned_service, status });
            }
        }
    }
    out
}

#[test]
fn permits_follows_the_roles_table() {
    let mut checked = 0;
    for role in ROLES {
        let u = user(role);
        for case in cases() {
            for cap in CAPS {
                assert_eq!(access::permits(&u, cap, &case.scope()), case.documented(role, cap), "{role:?} {cap:?} {case:?}");
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 4 * 2 * 2 * 8 * 10);
}

/// A few rows spelled out in full, as a reader would check them against the table.
#[test]
fn permits_spelled_out() {
    use Capability as C;
    let own_draft = Case { own_practice: true, assigned_service: true, status: ReferralStatus::Draft }.scope();
    let own_submitted = Case { own_practice: true, assigned_service: true, status: ReferralStatus::Submitted }.scope();
    let other_submitted = Case { own_practice: false, assigned_service: false, status: ReferralStatus::Submitted }.scope();
    let (gp, consultant, admin, sysadmin) =
        (user(Role::Referrer), user(Role::Consultant), user(Role::ServiceAdmin), user(Role::SystemAdmin));

    assert!(access::permits(&gp, C::View, &own_draft));
    assert!(access::permits(&gp, C::EditDraft, &own_draft));
    assert!(access::permits(&gp, C::Close, &own_submitted));
    assert!(!access::permits(&gp, C::View, &other_submitted));
    assert!(!access::permits(&gp, C::Claim, &own_submitted));

    assert!(!access::permits(&consultant, C::View, &own_draft), "never a draft, even of the service");
    assert!(access::permits(&consultant, C::View, &own_submitted));
    assert!(access::permits(&consultant, C::Claim, &own_submitted));
    assert!(access::permits(&consultant, C::RecordOutcome, &own_submitted));
    assert!(!access::permits(&consultant, C::EditDraft, &own_submitted), "own organisation makes no consultant a referrer");
    assert!(!access::permits(&consultant, C::View, &other_submitted));

    assert!(access::permits(&admin, C::View, &own_submitted));
    assert!(!access::permits(&admin, C::View, &own_draft));
    assert!(!access::permits(&admin, C::Claim, &own_submitted));
    assert!(!access::permits(&admin, C::RequestInformation, &own_submitted));

    for scope in [own_draft, own_submitted, other_submitted] {
        for cap in CAPS {
            assert!(!access::permits(&sysadmin, cap, &scope), "a system admin sees no referral ({cap:?})");
        }
    }
}

#[test]
fn allow_answers_404_when_not_even_visible_and_403_when_visible_but_not_allowed() {
    let mut refusals = [0, 0];
    for role in ROLES {
        let u = user(role);
        for case in cases() {
            for cap in CAPS {
                let got = access::allow(&u, cap, &case.scope());
                let visible = case.documented(role, Capability::View);
                let allowed = case.documented(role, cap);
                match got {
                    Ok(()) => assert!(visible && allowed, "{role:?} {cap:?} {case:?} allowed"),
                    Err(e) => {
                        assert!(!(visible && allowed), "{role:?} {cap:?} {case:?} refused: {}", e.message);
                        if visible {
                            assert_eq!((e.code, e.status()), (Code::Forbidden, 403), "{role:?} {cap:?} {case:?}");
                            assert_eq!(e.code.as_str(), "forbidden");
                            refusals[1] += 1;
                        } else {
                            assert_eq!((e.code, e.status()), (Code::NotFound, 404), "{role:?} {cap:?} {case:?}");
                            assert_eq!(e.code.as_str(), "not_found");
                            refusals[0] += 1;
                        }
                    }
                }
            }
        }
    }
    // Both kinds of refusal occur, so neither branch is vacuous.
    assert!(refusals[0] > 0 && refusals[1] > 0, "{refusals:?}");
}

#[test]
fn allow_spelled_out() {
    let submitted = Case { own_practice: false, assigned_service: true, status: ReferralStatus::Submitted }.scope();
    let draft = Case { own_practice: false, assigned_service: true, status: ReferralStatus::Draft }.scope();
    let consultant = user(Role::Consultant);
    let admin = user(Role::ServiceAdmin);
    assert!(access::allow(&consultant, Capability::Claim, &submitted).is_ok());
    let e = access::allow(&admin, Capability::Claim, &submitted).unwrap_err();
    assert_eq!((e.status(), e.code.as_str()), (403, "forbidden"));
    assert!(e.message.contains("service_admin"), "the refusal names the role: {}", e.message);
    let e = access::allow(&consultant, Capability::Claim, &draft).unwrap_err();
    assert_eq!((e.status(), e.code.as_str()), (404, "not_found"), "a draft is invisible to the service");
    let e = access::allow(&user(Role::Referrer), Capability::View, &submitted).unwrap_err();
    assert_eq!((e.status(), e.code.as_str()), (404, "not_found"), "another practice's referral does not exist for a GP");
}

#[test]
fn fits_follows_the_state_machine() {
    use Capability as C;
    use ReferralStatus as S;
    for status in STATUSES {
        for cap in CAPS {
            assert_eq!(cap.fits(status), documented_fit(status, cap), "{cap:?} on {status:?}");
        }
    }
    // Spelled out: the ones a slip would most likely get wrong.
    assert!(C::RecordOutcome.fits(S::Submitted), "a submitted referral can be rejected");
    assert!(C::RecordOutcome.fits(S::InReview));
    assert!(!C::RecordOutcome.fits(S::AwaitingInformation));
    assert!(C::UploadPhoto.fits(S::AwaitingInformation));
    assert!(!C::UploadPhoto.fits(S::Submitted));
    assert!(!C::EditDraft.fits(S::AwaitingInformation));
    assert!(!C::Withdraw.fits(S::OutcomeIssued));
    assert!(C::Close.fits(S::OutcomeIssued));
    assert!(!C::Close.fits(S::Closed));
}

#[test]
fn permitted_now_is_the_role_and_the_state_together_without_view() {
    for role in ROLES {
        let u = user(role);
        for case in cases() {
            let expected: Vec<Capability> = CAPS
                .into_iter()
                .filter(|c| *c != Capability::View && case.documented(role, *c) && documented_fit(case.status, *c))
                .collect();
            assert_eq!(access::permitted_now(&u, case.status, &case.scope()), expected, "{role:?} {case:?}");
        }
    }
}

#[test]
fn permitted_now_spelled_out() {
    use Capability as C;
    use ReferralStatus as S;
    let case = |status| Case { own_practice: true, assigned_service: true, status }.scope();
    let gp = user(Role::Referrer);
    let consultant = user(Role::Consultant);
    assert_eq!(access::permitted_now(&gp, S::Draft, &case(S::Draft)), vec![C::EditDraft, C::UploadPhoto, C::Submit, C::Withdraw]);
    assert_eq!(access::permitted_now(&gp, S::AwaitingInformation, &case(S::AwaitingInformation)), vec![C::UploadPhoto, C::Reply, C::Withdraw]);
    assert_eq!(access::permitted_now(&gp, S::OutcomeIssued, &case(S::OutcomeIssued)), vec![C::Close]);
    assert_eq!(access::permitted_now(&consultant, S::Submitted, &case(S::Submitted)), vec![C::Claim, C::RecordOutcome]);
    assert_eq!(access::permitted_now(&consultant, S::InReview, &case(S::InReview)), vec![C::RequestInformation, C::RecordOutcome]);
    assert_eq!(access::permitted_now(&consultant, S::Closed, &case(S::Closed)), vec![]);
    assert_eq!(access::permitted_now(&user(Role::ServiceAdmin), S::InReview, &case(S::InReview)), vec![]);
    assert_eq!(access::permitted_now(&user(Role::SystemAdmin), S::Draft, &case(S::Draft)), vec![]);
}

/// Capability names as the API serialises them (`allowed_actions`).
#[test]
fn capability_names() {
    let names: Vec<&str> = CAPS.iter().map(|c| c.as_str()).collect();
    assert_eq!(
        names,
        ["view", "edit_draft", "upload_photo", "submit", "reply", "withdraw", "close", "claim", "request_information", "record_outcome"]
    );
    for cap in CAPS {
        assert_eq!(serde_json::to_value(cap).unwrap(), serde_json::Value::String(cap.as_str().to_string()));
    }
    assert_eq!(Capability::ALL, CAPS);
}

/// A filter with every field set, so the test can see which fields the narrowing keeps (and any
/// field added later left at its default).
#[allow(clippy::needless_update)]
fn asked(service_ids: Option<Vec<&str>>, statuses: Option<Vec<ReferralStatus>>) -> ReferralFilter {
    ReferralFilter {
        practice_id: Some(org(0x3333)),
        service_ids: service_ids.map(|v| v.into_iter().map(str::to_string).collect()),
        statuses,
        route: Some(Route::Ras),
        priority: Some(Priority::Urgent),
        nhs_number: Some("9434765919".into()),
        ubrn: Some("000000000001".into()),
        patient_name: Some("smith".into()),
        by_due_date: true,
        limit: Some(25),
        offset: Some(50),
        ..ReferralFilter::default()
    }
}

/// The fields `visible_filter` must leave as they were asked.
fn assert_rest_kept(f: &ReferralFilter) {
    assert_eq!(f.route, Some(Route::Ras));
    assert_eq!(f.priority, Some(Priority::Urgent));
    assert_eq!(f.nhs_number.as_deref(), Some("9434765919"));
    assert_eq!(f.ubrn.as_deref(), Some("000000000001"));
    assert_eq!(f.patient_name.as_deref(), Some("smith"));
    assert!(f.by_due_date);
    assert_eq!((f.limit, f.offset), (Some(25), Some(50)));
}

#[test]
fn visible_filter_narrows_a_referrer_to_their_practice() {
    let gp = user(Role::Referrer);
    let f = access::visible_filter(&gp, asked(Some(vec![NOT_ASSIGNED]), Some(vec![ReferralStatus::Draft]))).expect("a referrer sees referrals");
    assert_eq!(f.practice_id, Some(org(OWN_ORG)), "another practice asked for is replaced by their own");
    assert_eq!(f.service_ids, Some(vec![NOT_ASSIGNED.to_string()]), "a GP may list their referrals to any service");
    assert_eq!(f.statuses, Some(vec![ReferralStatus::Draft]), "their own drafts included");
    assert_rest_kept(&f);

    let f = access::visible_filter(&gp, ReferralFilter::default()).unwrap();
    assert_eq!((f.practice_id, f.service_ids, f.statuses), (Some(org(OWN_ORG)), None, None));
}

#[test]
fn visible_filter_narrows_service_staff_to_their_services_without_drafts() {
    for role in [Role::Consultant, Role::ServiceAdmin] {
        let mut u = user(role);
        u.services = vec![ASSIGNED.to_string(), "barts".to_string()];

        // Nothing asked: all their services, every status but draft.
        let f = access::visible_filter(&u, ReferralFilter::default()).expect("service staff see referrals");
        assert_eq!(f.service_ids, Some(vec![ASSIGNED.to_string(), "barts".to_string()]), "{role:?}");
        // Every status but the first (draft), in the table's order.
        assert_eq!(f.statuses, Some(STATUSES[1..].to_vec()), "{role:?}");
        assert_eq!(f.practice_id, None, "{role:?}: any practice referring to their services");

        // Asked for one of theirs and one not: the other is dropped; drafts asked for are removed.
        let f = access::visible_filter(
            &u,
            asked(Some(vec![NOT_ASSIGNED, "barts"]), Some(vec![ReferralStatus::Draft, ReferralStatus::InReview])),
        )
        .unwrap();
        assert_eq!(f.service_ids, Some(vec!["barts".to_string()]), "{role:?}");
        assert_eq!(f.statuses, Some(vec![ReferralStatus::InReview]), "{role:?}");
        assert_eq!(f.practice_id, Some(org(0x3333)), "{role:?}: a practice asked for is kept (it narrows further)");
        assert_rest_kept(&f);

        // Only a service they do not serve, only drafts: nothing is left to match.
        let f = access::visible_filter(&u, asked(Some(vec![NOT_ASSIGNED]), Some(vec![ReferralStatus::Draft]))).unwrap();
        assert_eq!(f.service_ids, Some(vec![]), "{role:?}");
        assert_eq!(f.statuses, Some(vec![]), "{role:?}");
    }
}

#[test]
fn visible_filter_gives_a_system_admin_no_referrals() {
    assert!(access::visible_filter(&user(Role::SystemAdmin), ReferralFilter::default()).is_none());
    assert!(access::visible_filter(&user(Role::SystemAdmin), asked(Some(vec![ASSIGNED]), None)).is_none());
}

#[test]
fn operations_are_for_system_admins_only() {
    assert!(access::allow_operations(&user(Role::SystemAdmin)).is_ok());
    for role in [Role::Referrer, Role::Consultant, Role::ServiceAdmin] {
        let e = access::allow_operations(&user(role)).unwrap_err();
        assert_eq!((e.code, e.status(), e.code.as_str()), (Code::Forbidden, 403, "forbidden"), "{role:?}");
    }
}
