-- Documents on a referral (issue 14): PDF attachments such as the GP's referral letter and the
-- patient's consent form. Keep in step with the other dialect's 0020.
--
-- The bytes live in the blob store (encrypted at rest like photos), content-addressed by SHA-256;
-- this row acknowledges them. Retention removes the rows with their referral, the orphan sweep
-- the blobs no row refers to any more.
CREATE TABLE referral_documents (
    id TEXT PRIMARY KEY,
    referral_id TEXT NOT NULL REFERENCES referrals(id),
    -- referral_letter, consent_form or other (domain `document::DocumentKind`).
    kind TEXT NOT NULL,
    title TEXT,
    blob_key TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    uploaded_by TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX referral_documents_referral ON referral_documents(referral_id, created_at);
-- The orphan sweep and retention ask which blob keys documents refer to.
CREATE INDEX referral_documents_blob_key ON referral_documents(blob_key);
