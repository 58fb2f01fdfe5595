"""Schema migrations, numbered and applied in order.

A migration is a list of statements both backends run, or a dict of lists by dialect name where they
must differ (full-text search). Statements may use ``{ID}`` (an auto-increment primary key) and
``{BIGINT}``, which each backend's :class:`Dialect` spells its own way.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dialect:
    name: str
    tokens: dict[str, str]


SQLITE = Dialect("sqlite", {"ID": "INTEGER PRIMARY KEY AUTOINCREMENT", "BIGINT": "INTEGER"})
POSTGRES = Dialect("postgres", {"ID": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", "BIGINT": "BIGINT"})


Migration = list[str] | dict[str, list[str]]

MIGRATIONS: list[tuple[int, Migration]] = [
    (
        1,
        [
            """CREATE TABLE repos (
                did TEXT PRIMARY KEY,
                handle TEXT,
                signing_key TEXT,
                pds TEXT,
                status TEXT NOT NULL DEFAULT 'active',
                rev TEXT,
                updated_at TEXT NOT NULL
            )""",
            """CREATE TABLE records (
                uri TEXT PRIMARY KEY,
                did TEXT NOT NULL,
                collection TEXT NOT NULL,
                rkey TEXT NOT NULL,
                cid TEXT NOT NULL,
                rev TEXT NOT NULL,
                json TEXT NOT NULL,
                indexed_at TEXT NOT NULL,
                valid INTEGER NOT NULL,
                report TEXT
            )""",
            "CREATE INDEX records_by_did ON records (did, collection)",
            "CREATE INDEX records_by_collection ON records (collection)",
            """CREATE TABLE schemas (
                uri TEXT PRIMARY KEY,
                did TEXT NOT NULL,
                cid TEXT NOT NULL,
                name TEXT NOT NULL,
                version TEXT NOT NULL,
                version_sort TEXT NOT NULL,
                description TEXT,
                search_text TEXT NOT NULL
            )""",
            "CREATE INDEX schemas_by_name ON schemas (name)",
            """CREATE TABLE lenses (
                uri TEXT PRIMARY KEY,
                did TEXT NOT NULL,
                cid TEXT NOT NULL,
                name TEXT,
                source_uri TEXT NOT NULL,
                source_cid TEXT NOT NULL,
                target_uri TEXT NOT NULL,
                target_cid TEXT NOT NULL,
                code_ok INTEGER NOT NULL,
                code_report TEXT
            )""",
            "CREATE INDEX lenses_by_source ON lenses (source_uri)",
            "CREATE INDEX lenses_by_target ON lenses (target_uri)",
            """CREATE TABLE datasets (
                uri TEXT PRIMARY KEY,
                did TEXT NOT NULL,
                cid TEXT NOT NULL,
                name TEXT NOT NULL,
                schema_uri TEXT NOT NULL,
                schema_cid TEXT NOT NULL
            )""",
            "CREATE INDEX datasets_by_schema ON datasets (schema_uri)",
            """CREATE TABLE attestations (
                uri TEXT PRIMARY KEY,
                did TEXT NOT NULL,
                cid TEXT NOT NULL,
                subject_uri TEXT NOT NULL,
                subject_cid TEXT NOT NULL,
                statement TEXT NOT NULL
            )""",
            "CREATE INDEX attestations_by_subject ON attestations (subject_uri)",
            """CREATE TABLE cursors (
                source TEXT PRIMARY KEY,
                seq {BIGINT} NOT NULL,
                updated_at TEXT NOT NULL
            )""",
            """CREATE TABLE rejections (
                id {ID},
                at TEXT NOT NULL,
                source TEXT NOT NULL,
                did TEXT,
                uri TEXT,
                cid TEXT,
                seq {BIGINT},
                reason TEXT NOT NULL
            )""",
        ],
    ),
    (
        2,
        {
            # Word-prefix search over schemas.search_text. SQLite: an FTS5 index kept by triggers.
            "sqlite": [
                "CREATE VIRTUAL TABLE schemas_fts USING fts5(uri UNINDEXED, search_text)",
                "INSERT INTO schemas_fts (uri, search_text) SELECT uri, search_text FROM schemas",
                """CREATE TRIGGER schemas_fts_insert AFTER INSERT ON schemas BEGIN
                    INSERT INTO schemas_fts (uri, search_text) VALUES (new.uri, new.search_text);
                END""",
                """CREATE TRIGGER schemas_fts_delete AFTER DELETE ON schemas BEGIN
                    DELETE FROM schemas_fts WHERE uri = old.uri;
                END""",
                """CREATE TRIGGER schemas_fts_update AFTER UPDATE ON schemas BEGIN
                    DELETE FROM schemas_fts WHERE uri = old.uri;
                    INSERT INTO schemas_fts (uri, search_text) VALUES (new.uri, new.search_text);
                END""",
            ],
            # PostgreSQL: a generated tsvector with a GIN index.
            "postgres": [
                "ALTER TABLE schemas ADD COLUMN search_tsv tsvector"
                " GENERATED ALWAYS AS (to_tsvector('simple', search_text)) STORED",
                "CREATE INDEX schemas_search ON schemas USING GIN (search_tsv)",
            ],
        },
    ),
    (
        3,
        [
            # Repos to fetch whole again (first seen, #sync, unverifiable or poison events), with
            # exponential backoff per repo; fetched by the resync workers outside any transaction.
            """CREATE TABLE resyncs (
                did TEXT PRIMARY KEY,
                reason TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                next_at DOUBLE PRECISION NOT NULL,
                last_error TEXT
            )""",
            "CREATE INDEX resyncs_due ON resyncs (next_at)",
        ],
    ),
    (
        4,
        [
            # The change log API processes follow (see Store.log_change): one row per committed batch
            # that touched records, numbered in commit order; pruned from the oldest.
            """CREATE TABLE changes (
                id {ID},
                uris TEXT NOT NULL
            )""",
        ],
    ),
    (
        5,
        {
            # SQLite: the FTS rows keyed by a stable number. Keyed by uri, an FTS5 column no index
            # covers, every update and delete of a schema scanned the whole index; a table's own
            # rowid would do only until a VACUUM renumbers it (it has no INTEGER PRIMARY KEY).
            "sqlite": [
                "DROP TRIGGER schemas_fts_insert",
                "DROP TRIGGER schemas_fts_delete",
                "DROP TRIGGER schemas_fts_update",
                "DROP TABLE schemas_fts",
                "CREATE TABLE schemas_fts_ids (id INTEGER PRIMARY KEY, uri TEXT NOT NULL UNIQUE)",
                "CREATE VIRTUAL TABLE schemas_fts USING fts5(uri UNINDEXED, search_text)",
                "INSERT INTO schemas_fts_ids (uri) SELECT uri FROM schemas",
                "INSERT INTO schemas_fts (rowid, uri, search_text)"
                " SELECT i.id, s.uri, s.search_text FROM schemas s JOIN schemas_fts_ids i ON i.uri = s.uri",
                """CREATE TRIGGER schemas_fts_insert AFTER INSERT ON schemas BEGIN
                    INSERT INTO schemas_fts_ids (uri) VALUES (new.uri);
                    INSERT INTO schemas_fts (rowid, uri, search_text) VALUES (
                        (SELECT id FROM schemas_fts_ids WHERE uri = new.uri), new.uri, new.search_text);
                END""",
                """CREATE TRIGGER schemas_fts_delete AFTER DELETE ON schemas BEGIN
                    DELETE FROM schemas_fts
                    WHERE rowid = (SELECT id FROM schemas_fts_ids WHERE uri = old.uri);
                    DELETE FROM schemas_fts_ids WHERE uri = old.uri;
                END""",
                # Only a changed text is indexed again (an upsert rewrites every column).
                """CREATE TRIGGER schemas_fts_update AFTER UPDATE ON schemas
                WHEN new.search_text IS NOT old.search_text OR new.uri IS NOT old.uri BEGIN
                    DELETE FROM schemas_fts
                    WHERE rowid = (SELECT id FROM schemas_fts_ids WHERE uri = old.uri);
                    UPDATE schemas_fts_ids SET uri = new.uri WHERE uri = old.uri;
                    INSERT INTO schemas_fts (rowid, uri, search_text) VALUES (
                        (SELECT id FROM schemas_fts_ids WHERE uri = new.uri), new.uri, new.search_text);
                END""",
            ],
            "postgres": [],
        },
    ),
]
