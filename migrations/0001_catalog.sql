-- The catalog: every file and every copy of it.
--
-- The SQL is kept to what SQLite and PostgreSQL both accept as written. Timestamps are
-- RFC 3339 text in UTC with a fixed width, so they sort correctly as text on both.
--
-- The `file` table keeps the column names of the setup guide's Prisma schema (quoted
-- camelCase), so that its query works unchanged:
--   SELECT name, url, "backupUrl", "thumbnailUrl" FROM file ORDER BY "createdAt" DESC LIMIT 5;

CREATE TABLE file (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    size BIGINT NOT NULL,
    "contentType" TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    -- The primary copy's URL.
    url TEXT NOT NULL,
    -- The backup copy's URL.
    "backupUrl" TEXT,
    -- The 300 px thumbnail's URL, once one exists.
    "thumbnailUrl" TEXT,
    "scanStatus" TEXT NOT NULL DEFAULT 'pending',
    "createdAt" TEXT NOT NULL,
    "updatedAt" TEXT NOT NULL
);

CREATE INDEX file_created_at ON file ("createdAt", id);
CREATE INDEX file_sha256 ON file (sha256);

-- One file's bytes in one store. Roles (primary, backup) are not stored here: they
-- belong to the stores, so swapping roles rewrites no copy.
CREATE TABLE file_copy (
    file_id TEXT NOT NULL REFERENCES file (id) ON DELETE CASCADE,
    store TEXT NOT NULL,
    object_key TEXT NOT NULL,
    url TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'stored', 'failed', 'deleted')),
    -- SHA-256 of the bytes this copy was last seen to hold.
    checksum TEXT,
    -- The store's entity tag for the object, to notice a replaced object cheaply.
    etag TEXT,
    last_error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    verified_at TEXT,
    PRIMARY KEY (file_id, store)
);

CREATE INDEX file_copy_state ON file_copy (state);
