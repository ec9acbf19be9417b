-- Virus scanning: when each file was scanned and what was found, and the quarantine
-- of infected content (its hash, so that the same bytes are refused later).
ALTER TABLE file ADD COLUMN "scannedAt" TEXT;
-- The signature found, or why the file was skipped or could not be scanned.
ALTER TABLE file ADD COLUMN "scanDetail" TEXT;

CREATE TABLE quarantine (
    sha256 TEXT PRIMARY KEY,
    signature TEXT NOT NULL,
    name TEXT NOT NULL,
    file_id TEXT NOT NULL,
    quarantined_at TEXT NOT NULL
);
