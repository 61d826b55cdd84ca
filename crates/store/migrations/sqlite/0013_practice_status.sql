-- A practice's referrals of given statuses, most recently updated first (GET /api/v1/referrals?status=...
-- as a GP: drafts, referrals waiting for information): an index walk that stops at the page size,
-- instead of walking every referral of the practice to keep those of the status (bench/scale
-- measured that work growing with the practice's history; issue 18). Keep in step with the PostgreSQL 0013.
CREATE INDEX referrals_practice_status ON referrals (practice_id, status, updated_at DESC, id);
