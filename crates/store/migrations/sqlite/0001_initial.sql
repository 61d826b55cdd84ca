-- Telederm schema (SQLite). Timestamps are RFC 3339 UTC text, ids are UUID text, booleans 0/1.
CREATE TABLE organisations (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    ods_code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE provider_services (
    organisation_id TEXT NOT NULL REFERENCES organisations(id),
    service_id TEXT NOT NULL,
    PRIMARY KEY (organisation_id, service_id)
);
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    organisation_id TEXT NOT NULL REFERENCES organisations(id),
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE user_services (
    user_id TEXT NOT NULL REFERENCES users(id),
    service_id TEXT NOT NULL,
    PRIMARY KEY (user_id, service_id)
);
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    created_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE TABLE referrals (
    id TEXT PRIMARY KEY,
    service_id TEXT NOT NULL,
    route TEXT NOT NULL,
    priority TEXT NOT NULL,
    status TEXT NOT NULL,
    practice_id TEXT NOT NULL REFERENCES organisations(id),
    referrer_id TEXT NOT NULL REFERENCES users(id),
    assignee_id TEXT REFERENCES users(id),
    nhs_number TEXT NOT NULL,
    patient_name TEXT NOT NULL,
    patient_json TEXT NOT NULL,
    history_json TEXT NOT NULL,
    consent_json TEXT,
    eligibility_answers_json TEXT,
    eligibility_json TEXT,
    conversion_authorised BIGINT NOT NULL DEFAULT 0,
    outcome_json TEXT,
    outcome_code TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    submitted_at TEXT,
    due_date TEXT,
    version BIGINT NOT NULL
);
CREATE INDEX referrals_worklist ON referrals(service_id, status, due_date);
CREATE INDEX referrals_practice ON referrals(practice_id, updated_at);
CREATE INDEX referrals_nhs_number ON referrals(nhs_number);
CREATE TABLE photos (
    id TEXT PRIMARY KEY,
    referral_id TEXT NOT NULL REFERENCES referrals(id),
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    uploaded_by TEXT,
    original_key TEXT NOT NULL,
    original_type TEXT NOT NULL,
    attachment_key TEXT NOT NULL,
    preview_key TEXT NOT NULL,
    thumbnail_key TEXT NOT NULL,
    width BIGINT NOT NULL,
    height BIGINT NOT NULL,
    size_bytes BIGINT NOT NULL,
    verdict TEXT NOT NULL,
    report_json TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX photos_referral ON photos(referral_id, created_at);
CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    referral_id TEXT NOT NULL REFERENCES referrals(id),
    kind TEXT NOT NULL,
    author_id TEXT,
    author_name TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX messages_referral ON messages(referral_id, created_at);
CREATE TABLE referral_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    referral_id TEXT NOT NULL REFERENCES referrals(id),
    actor_id TEXT,
    action TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX referral_events_referral ON referral_events(referral_id, seq);
