-- A consultant's or admin's list of one status across several services, newest first
-- (GET /api/v1/referrals?status=...): PostgreSQL 15 cannot walk an index in the list's order while
-- testing an IN list on a later column, so the store asks for it one branch per service and
-- merges them (crates/store/src/referrals.rs, `list_referrals_sql`). This index makes each branch
-- walk exactly its service's referrals of that status in order, with route and priority tested
-- in the index; bench/scale at 1,000,000: `status=outcome_issued` 606 buffers for 200 rows before,
-- about 230 with it, the same as at 10,000 (issue 18). It replaces 0001's (service_id, status,
-- due_date), which no list walks in due-date order within one status (the open worklist has its
-- own partial index) and whose other use, counting by service and status, this index serves.
-- SQLite's lists walk its own indexes in order and need neither (sqlite/0026 is empty).
DROP INDEX referrals_worklist;
CREATE INDEX referrals_service_status_updated ON referrals (service_id, status, updated_at DESC, id, route, priority);
