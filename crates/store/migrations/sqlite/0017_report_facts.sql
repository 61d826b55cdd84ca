-- Report facts (issue 17): one row per referral the service has received, with the figures the
-- practice-quality, equity and service reports count, written in the same transaction as every
-- change to the referral or its photos (crates/store/src/reports.rs). The reports aggregate this
-- narrow table with GROUP BY over an index range instead of reading referrals' JSON, so they stay
-- fast at a region's volume without touching the worklist's indexes. Keep in step with the other
-- dialect's 0017.
CREATE TABLE report_facts (
    referral_id TEXT NOT NULL,
    service_id TEXT NOT NULL,
    practice_id TEXT NOT NULL,
    route TEXT NOT NULL,
    status TEXT NOT NULL,
    -- The working day's local date the referral was received, and its due date.
    submitted_on TEXT NOT NULL,
    due_date TEXT,
    -- Set once answered (outcome or rejection): the code, a rejection's reason, the local date.
    outcome_code TEXT,
    rejection_reason TEXT,
    outcome_on TEXT,
    -- Working days from submitted_on to outcome_on (the built-in England and Wales calendar).
    working_days BIGINT,
    -- 1 when the consultant asked the practice for more information at least once.
    info_requested BIGINT NOT NULL,
    photos_accept BIGINT NOT NULL,
    photos_warn BIGINT NOT NULL,
    photos_reject BIGINT NOT NULL,
    -- The distinct photo-check issue codes of the referral's photos, sorted, comma-separated.
    photo_issues TEXT NOT NULL,
    -- Equity dimensions: tone band estimated from the photos, Fitzpatrick type recorded by the GP,
    -- age band on the day received, sex, NHS Data Dictionary ethnic category.
    tone_band TEXT,
    fitzpatrick TEXT,
    age_band TEXT NOT NULL,
    sex TEXT NOT NULL,
    ethnic_category TEXT,
    -- Stored in the order reports read it: a service's period is one contiguous range.
    PRIMARY KEY (service_id, submitted_on, referral_id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX report_facts_referral ON report_facts (referral_id);
CREATE INDEX report_facts_practice ON report_facts (practice_id, submitted_on);

-- Referrals received before this migration get their facts once, when the store next starts
-- (Store::migrate); 1 once done.
CREATE TABLE report_facts_backfill (done BIGINT NOT NULL);
INSERT INTO report_facts_backfill (done) VALUES (0);
