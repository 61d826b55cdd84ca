-- Patients kept informed (issue 13). Keep in step with the other dialect's 0015.
--
-- A patient link is for uploading photos (as before) or for following the referral's progress: a
-- status link, sent in every message to the patient. Every browser whose date of birth matched
-- gets its own visit (the hash of its cookie's secret, expiring), so a patient can open the link
-- on several devices; the lock after wrong dates of birth stays on the link.
ALTER TABLE patient_links ADD COLUMN purpose TEXT NOT NULL DEFAULT 'upload';
ALTER TABLE patient_links DROP COLUMN session_hash;
CREATE TABLE patient_link_visits (
    secret_hash TEXT PRIMARY KEY,
    link_id TEXT NOT NULL REFERENCES patient_links(id),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX patient_link_visits_link ON patient_link_visits(link_id);

-- How Telederm can reach the patient on its own ('email', 'mobile' or 'none'), kept beside the
-- patient's details so the GP's list can say "Patient cannot be contacted by Telederm" without
-- reading every record. Written with the patient (domain `Contact::kind`); existing rows below.
ALTER TABLE referrals ADD COLUMN patient_contact TEXT NOT NULL DEFAULT 'none';
UPDATE referrals SET patient_contact = CASE
    WHEN TRIM(COALESCE(patient_json::jsonb #>> '{contact,email}', '')) <> '' THEN 'email'
    WHEN regexp_replace(COALESCE(patient_json::jsonb #>> '{contact,phone}', ''), '[ .()-]', '', 'g') ~ '^(07|\+447|00447)[0-9]{9}$' THEN 'mobile'
    ELSE 'none' END;
