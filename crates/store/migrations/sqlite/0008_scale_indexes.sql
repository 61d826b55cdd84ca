-- Indexes for a region's volume (issue 7). Keep in step with the other dialect's 0008.
-- Each list the API serves is an index walk in the list's own order that stops at the page size,
-- so its cost does not grow with the number of referrals (bench/scale measures it).

-- The consultant's worklist: open referrals, earliest deadline first. The predicate is written
-- exactly as the store writes the default worklist's status filter (status names are inlined, not
-- bound, so both planners can see the query implies it: crates/store/src/referrals.rs).
CREATE INDEX referrals_open_by_due ON referrals ((due_date IS NULL), due_date, submitted_at, id)
    WHERE status IN ('submitted', 'in_review', 'awaiting_information');

-- A practice's referrals, most recently updated first (the referrer's list and search).
DROP INDEX referrals_practice;
CREATE INDEX referrals_practice ON referrals (practice_id, updated_at DESC, id);

-- All referrals most recently updated first (a consultant's or admin's list across services).
CREATE INDEX referrals_updated ON referrals (updated_at DESC, id);

-- The orphan-blob sweep asks which blob keys photos refer to.
CREATE INDEX photos_original_key ON photos (original_key);
CREATE INDEX photos_attachment_key ON photos (attachment_key);
CREATE INDEX photos_preview_key ON photos (preview_key);
CREATE INDEX photos_thumbnail_key ON photos (thumbnail_key);
