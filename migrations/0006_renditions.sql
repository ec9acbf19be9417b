-- Image renditions: an optimized WebP and thumbnails of each image, and whether they
-- were made.
--
-- "renderStatus": 'none' (not an image, or renditions are off), 'pending', 'done',
-- 'skipped' (over a limit or not a rendered format) or 'failed' (a broken image);
-- "renderDetail" says why for the last two.
ALTER TABLE file ADD COLUMN "renderStatus" TEXT NOT NULL DEFAULT 'none';
ALTER TABLE file ADD COLUMN "renderDetail" TEXT;

-- One rendition in one store.
CREATE TABLE rendition (
    file_id TEXT NOT NULL REFERENCES file (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    store TEXT NOT NULL,
    object_key TEXT NOT NULL,
    url TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (file_id, name, store)
);
