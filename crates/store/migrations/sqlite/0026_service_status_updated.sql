-- Numbered in step with postgres/0026, which adds an index for PostgreSQL's one-branch-per-service
-- lists (a PostgreSQL 15 planner limit). SQLite's planner walks its existing indexes in the list's
-- order with the `+service_id` test (crates/store/src/referrals.rs), so it needs no change.
SELECT 1;
