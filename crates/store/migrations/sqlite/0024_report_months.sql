-- Month totals for the practice-quality report (issue 17): per calendar month of receipt, service
-- and practice, the counts that report sums (crates/store/src/reports.rs, `MONTH_MEASURES`, says
-- what each column counts), kept in the transaction that rewrites a referral's report facts.
-- A year's report then adds about 12,000 of these rows, plus the facts of the part-months at its
-- ends, instead of grouping some 200,000 facts by seven columns (over 1 s at 1,000,000
-- referrals; README, "Reports"). Working days are counted 0 to 20 one column each; the few
-- answered later are counted exactly from the facts (`report_facts_late`). Keep in step with the
-- other dialect's 0024.
CREATE TABLE report_months (
    service_id TEXT NOT NULL,
    -- YYYY-MM of the referral's local date of receipt (`report_facts.submitted_on`).
    month TEXT NOT NULL,
    practice_id TEXT NOT NULL,
    referrals BIGINT NOT NULL,
    answered BIGINT NOT NULL,
    rejected BIGINT NOT NULL,
    managed BIGINT NOT NULL,
    managed_remotely BIGINT NOT NULL,
    info_requested BIGINT NOT NULL,
    photos_accept BIGINT NOT NULL,
    photos_warn BIGINT NOT NULL,
    photos_reject BIGINT NOT NULL,
    route_advice_and_guidance BIGINT NOT NULL,
    route_ras BIGINT NOT NULL,
    rejected_poor_image_quality BIGINT NOT NULL,
    rejected_ineligible BIGINT NOT NULL,
    rejected_should_be_two_week_wait BIGINT NOT NULL,
    rejected_insufficient_information BIGINT NOT NULL,
    rejected_other BIGINT NOT NULL,
    issue_blurred BIGINT NOT NULL,
    issue_underexposed BIGINT NOT NULL,
    issue_overexposed BIGINT NOT NULL,
    issue_low_resolution BIGINT NOT NULL,
    issue_unsupported_format BIGINT NOT NULL,
    issue_corrupt BIGINT NOT NULL,
    issue_dimensions_exceed_limit BIGINT NOT NULL,
    issue_file_too_large BIGINT NOT NULL,
    issue_no_skin_detected BIGINT NOT NULL,
    issue_face_detected BIGINT NOT NULL,
    topic_photos BIGINT NOT NULL,
    topic_dermoscopy BIGINT NOT NULL,
    topic_history BIGINT NOT NULL,
    topic_treatment BIGINT NOT NULL,
    topic_other BIGINT NOT NULL,
    topic_not_given BIGINT NOT NULL,
    days_0 BIGINT NOT NULL,
    days_1 BIGINT NOT NULL,
    days_2 BIGINT NOT NULL,
    days_3 BIGINT NOT NULL,
    days_4 BIGINT NOT NULL,
    days_5 BIGINT NOT NULL,
    days_6 BIGINT NOT NULL,
    days_7 BIGINT NOT NULL,
    days_8 BIGINT NOT NULL,
    days_9 BIGINT NOT NULL,
    days_10 BIGINT NOT NULL,
    days_11 BIGINT NOT NULL,
    days_12 BIGINT NOT NULL,
    days_13 BIGINT NOT NULL,
    days_14 BIGINT NOT NULL,
    days_15 BIGINT NOT NULL,
    days_16 BIGINT NOT NULL,
    days_17 BIGINT NOT NULL,
    days_18 BIGINT NOT NULL,
    days_19 BIGINT NOT NULL,
    days_20 BIGINT NOT NULL,
    PRIMARY KEY (service_id, month, practice_id)
);
CREATE INDEX report_facts_late ON report_facts (service_id, submitted_on) WHERE working_days > 20;

-- Filled from the facts once, when the store next starts (Store::migrate); 1 once done.
CREATE TABLE report_months_backfill (done BIGINT NOT NULL);
INSERT INTO report_months_backfill (done) VALUES (0);
