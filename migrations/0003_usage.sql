-- Requests and bytes per store and day, added up from the counters of each running
-- instance, for `twinstore costs`.
--
-- `day` is the UTC date as RFC 3339 full-date text (YYYY-MM-DD), which sorts as text.
-- Several instances add to the same row: `INSERT ... ON CONFLICT (store, day) DO
-- UPDATE` adds to the counts on both SQLite and PostgreSQL.

CREATE TABLE store_usage (
    store TEXT NOT NULL,
    day TEXT NOT NULL,
    puts BIGINT NOT NULL DEFAULT 0,
    gets BIGINT NOT NULL DEFAULT 0,
    heads BIGINT NOT NULL DEFAULT 0,
    deletes BIGINT NOT NULL DEFAULT 0,
    lists BIGINT NOT NULL DEFAULT 0,
    bytes_written BIGINT NOT NULL DEFAULT 0,
    bytes_read BIGINT NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (store, day)
);

CREATE INDEX store_usage_day ON store_usage (day);
