"""The store behaves the same on SQLite and PostgreSQL (every test runs on both)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from atdata.lexicon.nsid import LENS, SCHEMA
from atdata_appview.derive import derive
from atdata_appview.store import Derived, Repo, Store, StoredRecord, open_store

DID = "did:plc:alice0000000000000000000"


def schema_record(
    rkey: str = "Frame@1.0.0", cid: str = "bafyschema1", rev: str = "3k000000001"
) -> StoredRecord:
    return StoredRecord(
        uri=f"at://{DID}/{SCHEMA}/{rkey}",
        did=DID,
        collection=SCHEMA,
        rkey=rkey,
        cid=cid,
        rev=rev,
        value={"name": "Frame", "version": "1.0.0"},
    )


def schema_row() -> Derived:
    return Derived(
        "schemas",
        {
            "name": "Frame",
            "version": "1.0.0",
            "version_sort": "1.0.0",
            "description": "",
            "search_text": "frame",
        },
    )


def test_migrate_is_idempotent(store: Store) -> None:
    assert store.migrate() == store.migrate()


def test_records_written_in_a_transaction_are_read_back(store: Store) -> None:
    with store.transaction() as tx:
        tx.upsert_repo(Repo(DID, handle="alice.test"))
        tx.put_record(schema_record(), schema_row())
    rec = store.record(f"at://{DID}/{SCHEMA}/Frame@1.0.0")
    assert rec is not None and rec.value == {"name": "Frame", "version": "1.0.0"} and rec.cid == "bafyschema1"
    assert [row["name"] for row in store.derived("schemas")] == ["Frame"]


def test_putting_the_same_record_twice_keeps_one_row(store: Store) -> None:
    for _ in range(2):
        with store.transaction() as tx:
            tx.put_record(schema_record(), schema_row())
    assert store.count("records") == 1 and store.count("schemas") == 1


def test_an_update_replaces_the_record_and_its_index_row(store: Store) -> None:
    with store.transaction() as tx:
        tx.put_record(schema_record(), schema_row())
    with store.transaction() as tx:
        tx.put_record(schema_record(cid="bafyschema2", rev="3k000000002"), schema_row())
    rec = store.record(f"at://{DID}/{SCHEMA}/Frame@1.0.0")
    assert rec is not None and rec.cid == "bafyschema2"
    assert [row["cid"] for row in store.derived("schemas")] == ["bafyschema2"]


def test_delete_removes_the_record_and_its_index_row(store: Store) -> None:
    with store.transaction() as tx:
        tx.put_record(schema_record(), schema_row())
    with store.transaction() as tx:
        tx.delete_record(f"at://{DID}/{SCHEMA}/Frame@1.0.0")
    assert store.count("records") == 0 and store.count("schemas") == 0


def test_a_failed_transaction_leaves_nothing_behind(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.put_record(schema_record(), schema_row())
        tx.set_cursor("pds", 7)
        raise RuntimeError("crash between writes")
    assert store.count("records") == 0 and store.cursor("pds") is None


def test_a_statement_the_database_refuses_undoes_its_transaction_and_the_next_one_commits(
    store: Store,
) -> None:
    for attempt in range(3):  # the same pooled connection each time: each refusal is rolled back
        with pytest.raises(Exception, match="no_such_table"), store.transaction() as tx:
            tx.put_record(schema_record(), schema_row())
            tx.set_cursor("pds", attempt)
            tx._exec("INSERT INTO no_such_table VALUES (1)")
        assert store.count("records") == 0 and store.cursor("pds") is None
    with store.transaction() as tx:
        tx.set_cursor("pds", 9)
    assert store.cursor("pds") == 9


def test_the_last_write_to_a_record_in_a_transaction_wins(store: Store) -> None:
    uri = f"at://{DID}/{SCHEMA}/Frame@1.0.0"
    with store.transaction() as tx:
        tx.put_record(schema_record(), schema_row())
        tx.delete_record(uri)
    assert store.count("records") == 0 and store.count("schemas") == 0
    with store.transaction() as tx:
        tx.delete_record(uri)
        tx.put_record(schema_record(cid="bafyschema2"), schema_row())
    rec = store.record(uri)
    assert rec is not None and rec.cid == "bafyschema2" and store.count("schemas") == 1


def test_a_read_inside_a_transaction_sees_its_writes_so_far(store: Store) -> None:
    with store.transaction() as tx:
        tx.put_record(schema_record(), schema_row())
        tx.reject("ws://relay.test", "a reason", did=DID)
        assert [r.uri for r in store.records(include_unserved=True)] == [f"at://{DID}/{SCHEMA}/Frame@1.0.0"]
        assert [r.reason for r in store.rejections(limit=5)] == ["a reason"]


def test_deleting_a_repo_removes_the_records_written_before_in_the_same_transaction(store: Store) -> None:
    with store.transaction() as tx:
        tx.upsert_repo(Repo(DID))
        tx.put_record(schema_record(), schema_row())
        tx.delete_repo_records(DID)
    assert store.count("records") == 0 and store.count("schemas") == 0


def test_the_cursor_commits_with_the_records(store: Store) -> None:
    with store.transaction() as tx:
        tx.put_record(schema_record(), schema_row())
        tx.set_cursor("ws://pds", 41)
    with store.transaction() as tx:
        tx.set_cursor("ws://pds", 42)
    assert store.cursor("ws://pds") == 42 and store.cursor("elsewhere") is None


def test_invalid_records_are_kept_with_their_report_but_not_served(store: Store) -> None:
    bad = StoredRecord(**{**schema_record().__dict__, "valid": False, "report": ["$.name: required"]})
    with store.transaction() as tx:
        tx.put_record(bad, schema_row())
    assert store.record(bad.uri) is None and store.records() == [] and store.derived("schemas") == []
    kept = store.record(bad.uri, include_unserved=True)
    assert kept is not None and kept.report == ["$.name: required"]


def test_records_of_an_inactive_repo_are_hidden_until_it_is_active_again(store: Store) -> None:
    with store.transaction() as tx:
        tx.upsert_repo(Repo(DID, status="takendown"))
        tx.put_record(schema_record(), schema_row())
    assert store.records() == [] and store.derived("schemas") == []
    with store.transaction() as tx:
        tx.upsert_repo(Repo(DID, status="active"))
    assert len(store.records()) == 1


def test_rejections_are_logged_newest_first(store: Store) -> None:
    with store.transaction() as tx:
        tx.reject("ws://pds", "bad signature", did=DID, seq=3)
        tx.reject("ws://pds", "record too large", did=DID, uri=f"at://{DID}/{LENS}/x", seq=4)
    assert [r.reason for r in store.rejections()] == ["record too large", "bad signature"]


def numbered_schema(i: int, text: str) -> tuple[StoredRecord, Derived]:
    name = f"T{i}"
    rec = StoredRecord(
        uri=f"at://{DID}/{SCHEMA}/{name}@1.0.0",
        did=DID,
        collection=SCHEMA,
        rkey=f"{name}@1.0.0",
        cid=f"bafyschema{i}",
        rev="3k000000001",
        value={"name": name, "version": "1.0.0", "description": text},
    )
    row = {"name": name, "version": "1.0.0", "version_sort": "1.0.0", "description": text}
    return rec, Derived("schemas", {**row, "search_text": text})


def test_a_batch_larger_than_one_statement_is_written_whole(store: Store) -> None:
    # 600 rows: more than two statements' worth, and a remainder; odd text on the way through.
    odd = "quote' dq\" brace{} comma, backslash\\ tab\t é 漢字"
    with store.transaction() as tx:
        for i in range(600):
            tx.put_record(*numbered_schema(i, f"n{i}z {odd}"))
        for seq in (None, 1, None):
            tx.reject("ws://pds", f"reason {seq}", did=DID, seq=seq)
    with store.transaction() as tx:
        for i in range(0, 600, 7):
            tx.delete_record(numbered_schema(i, "")[0].uri)
        tx.put_record(*numbered_schema(1, "n1z again"))
    assert store.count("records") == store.count("schemas") == 600 - len(range(0, 600, 7))
    assert store.count("rejections") == 3 and {r.seq for r in store.rejections()} == {None, 1}
    assert store.derived("schemas", name="T2")[0]["description"] == f"n2z {odd}"
    assert store.derived("schemas", words=["n7z"]) == []
    assert [row["description"] for row in store.derived("schemas", words=["n1z"])] == ["n1z again"]


@pytest.mark.integration
def test_a_postgresql_batch_whose_text_passes_the_statement_limit_goes_in_parts_whole(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from atdata_appview.store import postgres

    monkeypatch.setattr(postgres, "STATEMENT_CHARS", 5_000)  # the batch below holds ~20,000
    store = open_store(postgres_url)
    statements: list[str] = []
    execute = store._execute

    def counted(conn: object, sql: str, params: Sequence[object] = ()) -> object:
        statements.append(sql)
        return execute(conn, sql, params)

    monkeypatch.setattr(store, "_execute", counted)
    with store.transaction() as tx:
        for i in range(100):  # NULL reports and integer flags beside the text
            tx.put_record(*numbered_schema(i, f"n{i}z " + "x" * 100))
        for seq in range(40):
            tx.reject("ws://pds", "r" * 100, did=DID, seq=seq if seq % 2 else None)
    assert store.count("records") == store.count("schemas") == 100 and store.count("rejections") == 40
    assert sum(sql.startswith("INSERT INTO records") for sql in statements) >= 4
    assert sum(sql.startswith("INSERT INTO rejections") for sql in statements) >= 2
    store.close()


def test_a_sqlite_build_allowing_999_parameters_per_statement_takes_a_batch_whole(tmp_path: Path) -> None:
    import sqlite3

    store = open_store(f"sqlite:///{tmp_path / 'old-build.db'}")
    with store._acquire() as conn:  # this thread's connection, as SQLite before 3.32 sets it
        conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)
    with store.transaction() as tx:
        for i in range(600):
            tx.put_record(*numbered_schema(i, f"n{i}z"))
    with store.transaction() as tx:
        for i in range(0, 600, 2):
            tx.delete_record(numbered_schema(i, "")[0].uri)
    assert store.count("records") == store.count("schemas") == 300
    store.close()


def test_search_follows_the_updates_and_deletes_of_a_schema(store: Store) -> None:
    rec, row = numbered_schema(1, "frame alpha")
    with store.transaction() as tx:
        tx.put_record(rec, row)
        tx.put_record(*numbered_schema(2, "frame gamma"))
    assert [r["name"] for r in store.derived("schemas", words=["alpha"])] == ["T1"]
    with store.transaction() as tx:
        tx.put_record(rec, numbered_schema(1, "frame beta")[1])
    assert store.derived("schemas", words=["alpha"]) == []
    assert [r["name"] for r in store.derived("schemas", words=["beta"])] == ["T1"]
    with store.transaction() as tx:
        tx.delete_record(rec.uri)
    assert store.derived("schemas", words=["beta"]) == []
    assert [r["name"] for r in store.derived("schemas", words=["frame"])] == ["T2"]


def test_search_finds_schemas_by_the_parts_of_their_names_short_or_long(store: Store) -> None:
    long_name = "Calcium" * 30 + "TraceFrame"  # longer than the names whose words derive keeps
    fields = [{"name": "frame_index", "type": {"kind": "int"}}, {"name": "dffTrace", "type": {}}]
    with store.transaction() as tx:
        for i, name in enumerate(["BathApplicationFrame", long_name, "BathApplicationFrame"]):
            value = {"name": name, "version": "1.0.0", "fields": fields}
            rec = StoredRecord(f"at://{DID}/{SCHEMA}/S{i}", DID, SCHEMA, f"S{i}", f"bafy{i}", "3k1", value)
            tx.put_record(rec, derive(SCHEMA, value))
    assert [r["uri"][-2:] for r in store.derived("schemas", words=["application"])] == ["S0", "S2"]
    assert [r["uri"][-2:] for r in store.derived("schemas", words=["calcium", "trace"])] == ["S1"]
    assert len(store.derived("schemas", words=["index", "dff"])) == 3


def test_a_sqlite_database_from_schema_version_4_keeps_its_search(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Version 5 keys the FTS rows by number instead of by uri; what version 4 indexed stays found."""
    from atdata_appview.store import base

    url = f"sqlite:///{tmp_path / 'old.db'}"
    with monkeypatch.context() as m:
        m.setattr(base, "MIGRATIONS", [mig for mig in base.MIGRATIONS if mig[0] <= 4])
        old = open_store(url)
        assert old.migrate() == 4
        with old.transaction() as tx:
            for i in range(3):
                tx.put_record(*numbered_schema(i, f"frame word{i}"))
        old.close()
    store = open_store(url)
    assert store.migrate() == 5
    assert [r["name"] for r in store.derived("schemas", words=["frame"])] == ["T0", "T1", "T2"]
    with store.transaction() as tx:
        tx.put_record(*numbered_schema(1, "frame renamed"))
        tx.delete_record(numbered_schema(2, "")[0].uri)
    assert [r["name"] for r in store.derived("schemas", words=["frame"])] == ["T0", "T1"]
    assert store.derived("schemas", words=["word1"]) == [] and store.derived("schemas", words=["word2"]) == []
    store.close()


def test_a_rejection_naming_nul_characters_is_recorded_on_either_backend(store: Store) -> None:
    with store.transaction() as tx:
        tx.reject("ws://pds", "key 'a\x00b' refused", did=DID, uri=f"at://{DID}/{SCHEMA}/a\x00b")
    [rejection] = store.rejections()
    assert (rejection.reason, rejection.uri) == ("key 'a\ufffdb' refused", f"at://{DID}/{SCHEMA}/a\ufffdb")


def test_reopening_the_database_keeps_everything(db_url: str) -> None:
    first = open_store(db_url)
    with first.transaction() as tx:
        tx.put_record(schema_record(), schema_row())
        tx.set_cursor("ws://pds", 9)
    first.close()
    second = open_store(db_url)
    assert second.cursor("ws://pds") == 9 and second.count("records") == 1
    second.close()


def test_an_unknown_database_url_is_refused_naming_it() -> None:
    from atdata.errors import AtdataError

    with pytest.raises(AtdataError, match="mysql://x"):
        open_store("mysql://x")


def test_an_unreachable_database_is_named_without_its_password() -> None:
    from atdata_appview.store import StoreError

    url = "postgresql://alice:s3cret@127.0.0.1:1/atdata"
    with pytest.raises(StoreError) as err:
        open_store(url)
    assert "postgresql://alice:***@127.0.0.1:1/atdata" in str(err.value) and "s3cret" not in str(err.value)


def test_a_sqlite_file_that_cannot_be_created_is_named(tmp_path: Path) -> None:
    from atdata_appview.store import StoreError

    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="cannot open the database"):
        open_store(f"sqlite:///{blocker}/appview.db")


ODD_TEXTS = ["plain", "", "a\x1fb", "\x1f", "\x1e", "x\x1ey", "\x1f\x1e", None]


def test_text_holding_any_character_or_none_is_written_as_it_is_many_rows_or_one(store: Store) -> None:
    # PostgreSQL receives most text columns joined into one string that it splits: values holding
    # the separators, empty strings and NULLs must come back as they went in.
    repos = [Repo(f"did:plc:odd{i}", handle=t, pds=t, rev=t) for i, t in enumerate(ODD_TEXTS)]
    alone = [Repo("did:plc:alone", handle="", signing_key="", pds="", rev="")]  # one row: "" alone
    with store.transaction() as tx:
        tx.upsert_repos(repos)
        tx.upsert_repos(alone)
    assert [store.repo(r.did) for r in [*repos, *alone]] == [*repos, *alone]


def test_records_whose_keys_hold_the_separators_are_deleted_exactly(store: Store) -> None:
    keep, *gone = (numbered_schema(i, "d")[0] for i in range(3))
    odd = [replace(r, rkey=f"k\x1f{i}\x1e", uri=f"{r.uri}\x1f{i}\x1e") for i, r in enumerate(gone)]
    with store.transaction() as tx:
        for rec in [keep, *odd]:
            tx.put_record(rec, None)
    with store.transaction() as tx:
        for rec in odd:
            tx.delete_record(rec.uri)
    assert [r.uri for r in store.records(did=DID, include_unserved=True)] == [keep.uri]
