-- Issue 11 (security round 2): what an import may and may not create.
-- An HTTP import makes a draft of the caller's; the practitioners its Bundle named are kept here as
-- references (names and identifiers), never as accounts.
CREATE TABLE referral_imports (
    referral_id TEXT PRIMARY KEY REFERENCES referrals(id) ON DELETE CASCADE,
    source_json TEXT NOT NULL,
    imported_at TEXT NOT NULL
);
-- Where an account came from: `admin` (an administrator or the demo created it) or `import` (a
-- whole-installation restore from another Telederm's export). Single sign-on links an identity to an
-- account by email only for `admin` accounts.
ALTER TABLE users ADD COLUMN origin TEXT NOT NULL DEFAULT 'admin';
-- Single sign-on identities linked to accounts: once linked, an identity finds its account by
-- (issuer, subject) alone, and an account has at most one identity per issuer.
CREATE TABLE oidc_identities (
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id),
    linked_at TEXT NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE UNIQUE INDEX oidc_identities_user ON oidc_identities (user_id, issuer);
