-- More lists as index walks that stop at the page size (issue 7; bench/scale measures them).
-- Keep in step with the SQLite 0009.

-- A list filtered by status (GET /api/v1/referrals?status=...), most recently updated first.
CREATE INDEX referrals_status_updated ON referrals (status, updated_at DESC, id);

-- A practice's referrals searched by name (GET /api/v1/referrals?q=...): the name rides in the
-- index, so the search finds its page's ids by an index-only scan and reads only those rows.
DROP INDEX referrals_practice;
CREATE INDEX referrals_practice ON referrals (practice_id, updated_at DESC, id) INCLUDE (patient_name);
