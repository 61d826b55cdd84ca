-- The GP's name search (GET /api/v1/referrals?q=...) matches any part of the name
-- (LOWER(patient_name) LIKE '%...%'), which a B-tree cannot look up: without this index the
-- search walks every referral of the practice (the covering index of migration 0009), so its work
-- grows with the practice's history. A trigram index finds the referrals whose name holds the
-- typed letters directly; the planner uses it when the name is selective and keeps the practice's
-- index for names that many patients share (bench/scale measures both; issue 18).
-- pg_trgm ships with PostgreSQL (contrib) and is a trusted extension (13+): the database's owner
-- may create it. SQLite has no equivalent here yet (see docs/operations.md).
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX referrals_patient_name_trgm ON referrals USING gin (LOWER(patient_name) gin_trgm_ops);
