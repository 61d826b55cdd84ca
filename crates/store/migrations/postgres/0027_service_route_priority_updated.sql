-- A consultant's or admin's list of one route and priority across several services, newest first
-- (GET /api/v1/referrals?route=ras&priority=urgent; every status but drafts unless one is asked
-- for): asked of PostgreSQL one branch per service, as 0026's one-status lists are
-- (crates/store/src/referrals.rs, `list_referrals_sql`). This index lets each branch walk exactly
-- its service's referrals of that route and priority in order, with the statuses tested in the
-- index. Without it the list walked every referral newest first and fetched about 3 buffers per
-- row returned at 1,000,000 referrals, twice its 10,000 figure (bench/scale, issue 18). SQLite
-- keeps its single ordered walk (sqlite/0027 changes nothing).
CREATE INDEX referrals_service_route_priority_updated ON referrals (service_id, route, priority, updated_at DESC, id, status);
