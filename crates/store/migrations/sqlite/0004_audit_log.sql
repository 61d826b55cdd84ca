-- The audit trail: one row per read or write of patient data (and each refusal), hash-chained.
-- Each entry stores the previous entry's hash and its own hash over a canonical encoding of all
-- its other fields (see crates/store/src/audit.rs), so changing, inserting or deleting a row is
-- found by `telederm audit verify`. Appends are serialised through the single chain-head row.
-- Entries hold ids, never clinical content; referral_id has no foreign key so the trail outlives
-- a purged referral. Timestamps are RFC 3339 UTC text.
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    at TEXT NOT NULL,
    actor_id TEXT,
    actor_label TEXT NOT NULL,
    actor_role TEXT,
    organisation_id TEXT,
    action TEXT NOT NULL,
    record_type TEXT NOT NULL,
    record_id TEXT,
    referral_id TEXT,
    client_addr TEXT,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log(at);
CREATE INDEX audit_log_actor ON audit_log(actor_id, seq);
CREATE INDEX audit_log_referral ON audit_log(referral_id, seq);
CREATE TABLE audit_chain_head (
    id BIGINT PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_chain_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
