-- Saved phrases a service's consultants insert into an outcome (issue 15). Keep in step with the
-- SQLite 0017. kind: plan (management plan) or safety_net (follow-up and safety-netting). The
-- service's admins edit them; position orders them within a service and kind. Timestamps are
-- RFC 3339 UTC text.
CREATE TABLE saved_phrases (
    id TEXT PRIMARY KEY,
    service_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    position BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT,
    UNIQUE (service_id, kind, title)
);
CREATE INDEX saved_phrases_service ON saved_phrases (service_id, kind, position);
