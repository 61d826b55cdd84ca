-- Background jobs and the notification outbox (PostgreSQL). Keep in step with sqlite/0002.
-- A job is claimed by setting state = 'running' with a lease (locked_by, locked_until); a lease that
-- runs out (a crashed worker) makes the job claimable again. Timestamps are RFC 3339 UTC text.
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    payload_json TEXT NOT NULL,
    unique_key TEXT UNIQUE,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL,
    run_at TEXT NOT NULL,
    locked_by TEXT,
    locked_until TEXT,
    last_error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX jobs_claim ON jobs(state, run_at);
-- Notifications written in the same transaction as the state change they announce. They carry a
-- template name and a link, never clinical detail; a `send_notification` job delivers each one.
CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    template TEXT NOT NULL,
    link TEXT NOT NULL,
    referral_id TEXT REFERENCES referrals(id),
    dedupe_key TEXT UNIQUE,
    state TEXT NOT NULL,
    provider_reference TEXT,
    created_at TEXT NOT NULL,
    sent_at TEXT
);
CREATE INDEX outbox_referral ON outbox(referral_id, created_at);
