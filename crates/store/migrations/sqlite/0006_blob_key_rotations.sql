-- Blob key rotations (`telederm keys rotate`): which key-encryption key the blobs are being moved
-- from and to, and whether every blob has been re-wrapped. While a rotation from the previous key
-- to the current one is unfinished, servers also accept the previous key
-- (TELEDERM_BLOB_KEY_PREVIOUS_FILE); once it is finished they refuse it. Key ids only, never keys.
CREATE TABLE blob_key_rotations (
    id TEXT PRIMARY KEY,
    from_key_id TEXT NOT NULL,
    to_key_id TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    blobs_total BIGINT NOT NULL DEFAULT 0,
    blobs_done BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX blob_key_rotations_keys ON blob_key_rotations(from_key_id, to_key_id);
