-- The name search (GET /api/v1/referrals?q=..., issue 18) as an index of words: each word of a
-- referral's patient name (telederm_domain::patient::name_words: lower case, split at anything
-- not a letter or digit), under its practice. A GP's search for "smi" reads the practice's words
-- from "smi" up to the next prefix and the referrals they name, so its work follows the matches,
-- not the practice's whole history (it read every referral of the practice through
-- `referrals_practice` before). Kept in the transaction that writes the referral
-- (crates/store/src/referrals.rs, `write_name_words`). `word` sorts by bytes (SQLite's BINARY) so a
-- prefix is one range on both databases. Keep in step with the PostgreSQL 0025.
CREATE TABLE referral_name_words (
    practice_id TEXT NOT NULL,
    word TEXT NOT NULL,
    referral_id TEXT NOT NULL REFERENCES referrals(id),
    PRIMARY KEY (practice_id, word, referral_id)
) WITHOUT ROWID;
-- A referral's words, when its name changes or retention removes it.
CREATE INDEX referral_name_words_referral ON referral_name_words (referral_id);

-- The name no longer rides in the practice's list index (migration 0009 put it there for the
-- search this replaces).
DROP INDEX referrals_practice;
CREATE INDEX referrals_practice ON referrals (practice_id, updated_at DESC, id);

-- Filled from the referrals once, when the store next starts (Store::migrate); 1 once done.
CREATE TABLE referral_name_words_backfill (done BIGINT NOT NULL);
INSERT INTO referral_name_words_backfill (done) VALUES (0);
