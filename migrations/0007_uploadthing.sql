-- UploadThing as the upload front door: files that arrive through its webhook are found
-- by the store and object key of their UploadThing copy (a redelivered webhook must not
-- make a second file), and `error` hooks are kept for operators to read.
CREATE INDEX file_copy_store_key ON file_copy (store, object_key);

CREATE TABLE uploadthing_error (
    id TEXT PRIMARY KEY,
    store TEXT NOT NULL,
    file_key TEXT NOT NULL,
    error TEXT NOT NULL,
    received_at TEXT NOT NULL
);
