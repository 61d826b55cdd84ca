-- Patients (issue 14). Keep in step with the other dialect's 0019.
--
-- Which upload link each patient photo came through, so the patient can remove a photo they sent
-- (before they finish) and nobody else's. Photos sent before this migration are given to the
-- newest upload link of their referral made before them. A photo deleted by the practice takes
-- its row with it.
CREATE TABLE patient_link_photos (
    photo_id TEXT PRIMARY KEY REFERENCES photos(id) ON DELETE CASCADE,
    link_id TEXT NOT NULL REFERENCES patient_links(id)
);
CREATE INDEX patient_link_photos_link ON patient_link_photos(link_id);
INSERT INTO patient_link_photos (photo_id, link_id)
SELECT p.id, (SELECT l.id FROM patient_links l
              WHERE l.referral_id = p.referral_id AND l.purpose = 'upload' AND l.created_at <= p.created_at
              ORDER BY l.created_at DESC LIMIT 1)
FROM photos p
WHERE p.source = 'patient' AND EXISTS (SELECT 1 FROM patient_links l
              WHERE l.referral_id = p.referral_id AND l.purpose = 'upload' AND l.created_at <= p.created_at);

-- What the patient told us in their own words on the upload page (JSON, domain
-- `patient_answers::PatientAnswers`); written only by the patient's link, never by the GP's edits.
ALTER TABLE referrals ADD COLUMN patient_answers_json TEXT;

-- Feedback after the outcome: the NHS Friends and Family Test's rating (very_good, good, neither,
-- poor, very_poor, dont_know) and optional free text, one per referral. No clinical question is
-- asked. Kept with the referral (retention removes it with the referral).
CREATE TABLE patient_feedback (
    id TEXT PRIMARY KEY,
    referral_id TEXT NOT NULL UNIQUE REFERENCES referrals(id),
    link_id TEXT NOT NULL REFERENCES patient_links(id),
    service_id TEXT NOT NULL,
    rating TEXT NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
CREATE INDEX patient_feedback_service ON patient_feedback(service_id, created_at);
