-- Teaching cases (issue 17): an answered referral whose patient consented to teaching, marked by
-- a consultant. case_json is the domain's `TeachingCase`: built without any identifier of the
-- patient (telederm_domain::teaching), so it can be shown to every referrer. One per referral;
-- removed with the referral by retention. Timestamps are RFC 3339 UTC text. Keep in step with
-- the other dialect's 0021.
CREATE TABLE teaching_cases (
    id TEXT PRIMARY KEY,
    referral_id TEXT NOT NULL UNIQUE,
    service_id TEXT NOT NULL,
    marked_by TEXT NOT NULL,
    marked_at TEXT NOT NULL,
    case_json TEXT NOT NULL
);
CREATE INDEX teaching_cases_service ON teaching_cases (service_id, marked_at);
