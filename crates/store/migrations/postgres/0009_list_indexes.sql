-- More lists as index walks that stop at the page size (issue 7; bench/scale measures them).
-- Keep in step with the SQLite 0009 (which also widens referrals_practice: PostgreSQL reads the
-- row before it filters in a plain index scan, so the wider index would not help it).

-- A list filtered by status (GET /api/v1/referrals?status=...), most recently updated first.
CREATE INDEX referrals_status_updated ON referrals (status, updated_at DESC, id);
