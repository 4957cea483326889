CREATE TABLE IF NOT EXISTS qsp_event (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	site         TEXT NOT NULL,
	app_id       TEXT NOT NULL,
	kind         TEXT NOT NULL DEFAULT '',
	change       TEXT,
	received_at  TEXT NOT NULL,
	execution_id TEXT
);
CREATE INDEX IF NOT EXISTS qsp_event_app ON qsp_event (site, app_id, execution_id);
CREATE INDEX IF NOT EXISTS qsp_event_execution ON qsp_event (execution_id);

CREATE TABLE IF NOT EXISTS qsp_pending_app (
	site         TEXT NOT NULL,
	app_id       TEXT NOT NULL,
	job_id       INTEGER NOT NULL,
	execution_id TEXT NOT NULL,
	PRIMARY KEY (site, app_id)
);

CREATE TABLE IF NOT EXISTS qsp_execution (
	id          TEXT PRIMARY KEY,
	job_id      INTEGER NOT NULL,
	site        TEXT NOT NULL,
	app_id      TEXT NOT NULL,
	state       TEXT NOT NULL,
	started_at  TEXT NOT NULL,
	finished_at TEXT,
	revision    TEXT NOT NULL DEFAULT '',
	kinds       TEXT NOT NULL DEFAULT '',
	event       TEXT,
	summary     TEXT NOT NULL DEFAULT '',
	error       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS qsp_execution_started ON qsp_execution (started_at);

CREATE TABLE IF NOT EXISTS qsp_checkpoint (
	execution_id TEXT NOT NULL,
	step_key     TEXT NOT NULL,
	result       TEXT NOT NULL,
	saved_at     TEXT NOT NULL,
	PRIMARY KEY (execution_id, step_key)
);

CREATE TABLE IF NOT EXISTS qsp_journal (
	execution_id TEXT NOT NULL,
	step_key     TEXT NOT NULL,
	key          TEXT NOT NULL,
	value        TEXT NOT NULL,
	PRIMARY KEY (execution_id, step_key, key)
);

CREATE TABLE IF NOT EXISTS qsp_app (
	site              TEXT NOT NULL,
	app_id            TEXT NOT NULL,
	modified_date     TEXT NOT NULL,
	kinds             TEXT NOT NULL,
	execution_id      TEXT NOT NULL,
	PRIMARY KEY (site, app_id)
);

CREATE TABLE IF NOT EXISTS qsp_site (
	alias        TEXT PRIMARY KEY,
	token        TEXT NOT NULL,
	handles      TEXT NOT NULL DEFAULT '[]',
	catchup_mark TEXT NOT NULL DEFAULT ''
);
