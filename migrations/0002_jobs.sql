-- Durable jobs, store roles and migrations.

-- One unit of background work. A job is taken by one worker at a time through its
-- lease: a worker that dies stops renewing `lease_until`, and once it has passed the
-- job is due again. `unique_key` keeps one job per piece of work; a finished job with
-- the same key is re-queued rather than duplicated.
CREATE TABLE job (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    unique_key TEXT NOT NULL UNIQUE,
    payload TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    run_at TEXT NOT NULL,
    lease_owner TEXT,
    lease_until TEXT,
    last_error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE INDEX job_due ON job (state, run_at);

-- Which store holds which role, once a migration or a failover has changed them.
-- Without a row here, the configuration decides.
CREATE TABLE store_role (
    role TEXT PRIMARY KEY CHECK (role IN ('primary', 'backup')),
    store TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- A migration of every file to another store. While one is `running`, new uploads
-- are copied to the target store too.
CREATE TABLE migration (
    id TEXT PRIMARY KEY,
    target TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('primary', 'backup')),
    state TEXT NOT NULL CHECK (state IN ('running', 'done')),
    started_at TEXT NOT NULL,
    finished_at TEXT
);
