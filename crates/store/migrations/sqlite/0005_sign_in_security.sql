-- Sign-in security (issue 6): failed sign-in attempts, counted per account and per client
-- address so lockout and rate limits hold across every node sharing the database, and the
-- short-lived state of OpenID Connect sign-ins (state, nonce, PKCE verifier), single use.
CREATE TABLE sign_in_failures (
    id TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    subject TEXT NOT NULL,
    failed_at TEXT NOT NULL
);
CREATE INDEX sign_in_failures_subject ON sign_in_failures(scope, subject, failed_at);
CREATE TABLE oidc_logins (
    state_hash TEXT PRIMARY KEY,
    nonce TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    next_path TEXT NOT NULL,
    created_at TEXT NOT NULL
);
