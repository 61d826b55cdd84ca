-- What lists call out (issue 13): the last state-machine action (a consultant's "GP replied" is
-- in review after a reply), when the patient last finished sending photos through an upload link
-- (the GP's "patient photos arrived" while that is after the referral's last change), and a GP's
-- confirmation that a photo in which a face was detected shows no identifiable face (the child
-- face rule). Keep in step with the PostgreSQL 0014.
ALTER TABLE referrals ADD COLUMN last_action TEXT;
ALTER TABLE referrals ADD COLUMN patient_photos_at TEXT;
ALTER TABLE photos ADD COLUMN face_confirmed_by TEXT;
ALTER TABLE photos ADD COLUMN face_confirmed_at TEXT;

-- The worklist's order: earliest deadline first and, on the same day, urgent and two-week-wait
-- before routine (an urgent case must never sit behind a routine one due the same day). The
-- index carries the same order so the list is still an index walk that stops at the page size.
DROP INDEX referrals_open_by_due;
CREATE INDEX referrals_open_by_due ON referrals ((due_date IS NULL), due_date, (priority = 'routine'), submitted_at, id)
    WHERE status IN ('submitted', 'in_review', 'awaiting_information');

-- A referrer's profession (issue 14: services say who may refer).
ALTER TABLE users ADD COLUMN profession TEXT;

-- The e-RS Unique Booking Reference Number of a RAS referral (issue 14), searchable.
ALTER TABLE referrals ADD COLUMN ubrn TEXT;
CREATE INDEX referrals_ubrn ON referrals (ubrn);
