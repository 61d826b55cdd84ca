-- What a consultant asks for when returning a referral for information (issue 17): on the
-- request's message, and in the report facts as the referral's distinct topics (sorted,
-- comma-separated; empty when none was given), so the practice report counts returns by kind.
-- Keep in step with the other dialect's 0022.
ALTER TABLE messages ADD COLUMN topic TEXT;
ALTER TABLE report_facts ADD COLUMN info_topics TEXT NOT NULL DEFAULT '';
