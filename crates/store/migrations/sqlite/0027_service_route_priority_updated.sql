-- Numbered in step with postgres/0027, an index for PostgreSQL's one-branch-per-service list of
-- one route and priority. SQLite walks its existing indexes in the list's order with the
-- `+service_id` test (crates/store/src/referrals.rs) and needs no change.
SELECT 1;
