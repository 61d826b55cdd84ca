-- Patient upload links: a practice sends the patient a link to upload photos for one referral.
-- Only the SHA-256 of the link token is stored; the patient proves who they are with their date
-- of birth, and after too many wrong answers the link locks.
CREATE TABLE patient_links (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    referral_id TEXT NOT NULL REFERENCES referrals(id),
    created_by TEXT REFERENCES users(id),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked_at TEXT,
    failed_attempts BIGINT NOT NULL DEFAULT 0,
    locked_at TEXT,
    session_hash TEXT,
    verified_at TEXT,
    max_photos BIGINT NOT NULL,
    photos_uploaded BIGINT NOT NULL DEFAULT 0,
    submitted_at TEXT
);
CREATE INDEX patient_links_referral ON patient_links(referral_id);
