-- The last health probes of each store, kept so that `twinstore health` can show the
-- history that the service's periodic checks saw.
CREATE TABLE health_probe (
    id TEXT PRIMARY KEY,
    store TEXT NOT NULL,
    -- 1 when the round trip worked, 0 when not (an integer: sqlx's Any driver reads
    -- no SQLite booleans).
    available INTEGER NOT NULL CHECK (available IN (0, 1)),
    latency_ms BIGINT NOT NULL,
    error TEXT,
    probed_at TEXT NOT NULL
);

CREATE INDEX health_probe_store ON health_probe (store, probed_at);
