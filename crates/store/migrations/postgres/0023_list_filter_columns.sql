-- The consultant's and admin's lists filtered by status, route or priority within their services
-- (GET /api/v1/referrals?status=...&route=...&priority=...) walk an index in the list's order and
-- keep the rows that match. With the filter columns as trailing key columns the database tests
-- each entry in the index itself and reads only the matching referrals, so a page costs about the
-- same at any size; before, every entry walked cost a table read (bench/scale at 1,000,000:
-- status= 3,327 buffers, route=&priority= 8,461, against 359 and 1,037 at 10,000; issue 18).
-- Keep in step with the SQLite 0023.
DROP INDEX referrals_updated;
CREATE INDEX referrals_updated ON referrals (updated_at DESC, id, service_id, status, route, priority);
DROP INDEX referrals_status_updated;
CREATE INDEX referrals_status_updated ON referrals (status, updated_at DESC, id, service_id, route, priority);
