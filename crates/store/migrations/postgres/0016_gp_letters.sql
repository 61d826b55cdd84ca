-- Outcome letters sent into the GP record (GP Connect Send Document over MESH). Keep in step with
-- the SQLite 0016. One row per outcome letter: written in the transaction that records the
-- outcome, with the send_gp_letter job that sends it. local_id is the MESH local id
-- (referral and version), so a retry never sends a second letter; itk_message_id is the ITK
-- MessageHeader id the acknowledgements name. status: pending (not sent yet; reason holds the
-- last try's error), not_sent (given up: no mailbox for the practice, or MESH refused it),
-- sent, delivered (infrastructure acknowledgement), filed (business acknowledgement), failed (a
-- negative acknowledgement, or none in time). Timestamps are RFC 3339 UTC text.
CREATE TABLE gp_letters (
    id TEXT PRIMARY KEY,
    referral_id TEXT NOT NULL REFERENCES referrals(id),
    referral_version BIGINT NOT NULL,
    local_id TEXT NOT NULL UNIQUE,
    itk_message_id TEXT NOT NULL UNIQUE,
    practice_ods TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    recipient_mailbox TEXT,
    mesh_message_id TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    sent_at TEXT,
    delivered_at TEXT,
    filed_at TEXT,
    failed_at TEXT
);
CREATE INDEX gp_letters_referral ON gp_letters (referral_id, created_at);
CREATE INDEX gp_letters_status ON gp_letters (status, sent_at);
