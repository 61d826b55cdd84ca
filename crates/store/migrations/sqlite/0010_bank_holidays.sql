-- Bank-holiday files loaded with `telederm calendar update FILE` (issue 11): the gov.uk
-- bank-holidays.json as loaded, validated first, and the range of its England and Wales data.
-- Every node reads the latest row at start and every few minutes, so a newer file reaches all of
-- them without a rebuild. Rows are kept as a history; the latest loaded_at wins.
-- Keep in step with the other dialect's 0010.
CREATE TABLE bank_holiday_files (
    id TEXT PRIMARY KEY,
    loaded_at TEXT NOT NULL,
    first_day TEXT NOT NULL,
    last_day TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX bank_holiday_files_loaded ON bank_holiday_files (loaded_at DESC, id);
