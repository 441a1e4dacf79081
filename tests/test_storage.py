"""The store on real SQLite files: migrations, pragmas, transactions, conflicts, audit, files."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.errors import Conflict
from storage import audit
from storage import regions as region_repo
from storage.db import BUSY_TIMEOUT_MS, Database, Migration, packaged_migrations

AT = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    store = await Database.open(tmp_path / "store" / "zhucun.db")
    await store.migrate()
    try:
        yield store
    finally:
        await store.close()


async def _add_region(db: Database, code: str, parent: str | None = None) -> None:
    path = f"/{code}/" if parent is None else f"/{parent}/{code}/"
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT INTO regions (code, parent_code, level, name, path) VALUES (?, ?, ?, ?, ?)",
            (code, parent, "province" if parent is None else "city", f"地区{code}", path),
        )


async def _write(db: Database, sql: str) -> None:
    async with db.transaction() as tx:
        await tx.execute(sql)


async def test_migrations_are_recorded_and_applied_once(tmp_path: Path) -> None:
    names = [m.name for m in packaged_migrations()]
    assert names == sorted(names)
    assert names[0] == "0001_core"
    store = await Database.open(tmp_path / "zhucun.db")
    try:
        assert await store.migrate() == names
        assert await store.applied_migrations() == names
        assert await store.migrate() == []
        extra = Migration("9001_extra", "CREATE TABLE extra (x INTEGER);")
        assert await store.migrate([extra]) == ["9001_extra"]
        assert await store.migrate([extra]) == []
        assert await store.applied_migrations() == [*names, "9001_extra"]
    finally:
        await store.close()
    # A fresh process (a new Database) sees the same record and applies nothing.
    again = await Database.open(tmp_path / "zhucun.db")
    try:
        assert await again.migrate() == []
    finally:
        await again.close()


async def test_a_failing_migration_leaves_nothing_behind(db: Database) -> None:
    bad = Migration("9002_bad", "CREATE TABLE half (x INTEGER);\nCREATE TABLE broken (;")
    with pytest.raises(sqlite3.Error):
        await db.migrate([bad])
    assert "9002_bad" not in await db.applied_migrations()
    assert await db.fetchall("SELECT name FROM sqlite_master WHERE name = 'half'") == []
    # The store is still usable for the next write.
    await _add_region(db, "51")
    assert await region_repo.count(db) == 1


async def test_pragmas_on_both_connections(db: Database) -> None:
    row = await db.fetchone("PRAGMA journal_mode")
    assert row is not None
    assert row[0] == "wal"
    fk = await db.fetchone("PRAGMA foreign_keys")  # the reader
    timeout = await db.fetchone("PRAGMA busy_timeout")
    assert fk is not None
    assert fk[0] == 1
    assert timeout is not None
    assert timeout[0] == BUSY_TIMEOUT_MS
    async with db.transaction() as tx:  # the writer
        fk = await tx.fetchone("PRAGMA foreign_keys")
        timeout = await tx.fetchone("PRAGMA busy_timeout")
    assert fk is not None
    assert fk[0] == 1
    assert timeout is not None
    assert timeout[0] == BUSY_TIMEOUT_MS
    assert BUSY_TIMEOUT_MS >= 1000


async def test_a_failing_transaction_rolls_back_entirely(db: Database) -> None:
    async def write_then_fail() -> None:
        async with db.transaction() as tx:
            await tx.execute(
                "INSERT INTO regions (code, level, name, path)"
                " VALUES ('51', 'province', '四川省', '/51/')"
            )
            await audit.record(
                tx, at=AT, actor="operator:test", action="x", entity="region", entity_id="51"
            )
            raise RuntimeError("halfway")

    with pytest.raises(RuntimeError, match="halfway"):
        await write_then_fail()
    assert await region_repo.count(db) == 0
    assert await audit.count(db) == 0
    # The writer is free again and commits normally.
    await _add_region(db, "51")
    assert await region_repo.count(db) == 1


async def test_uncommitted_writes_are_invisible_to_readers(db: Database) -> None:
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT INTO regions (code, level, name, path)"
            " VALUES ('51', 'province', '四川省', '/51/')"
        )
        inside = await tx.fetchone("SELECT count(*) FROM regions")
        outside = await region_repo.count(db)
    assert inside is not None
    assert inside[0] == 1
    assert outside == 0
    assert await region_repo.count(db) == 1


async def test_integrity_errors_become_conflict(db: Database) -> None:
    await _add_region(db, "51")
    with pytest.raises(Conflict) as duplicate:
        await _add_region(db, "51")
    assert isinstance(duplicate.value.__cause__, sqlite3.IntegrityError)
    assert duplicate.value.key == "error.conflict"
    with pytest.raises(Conflict):  # foreign key: no such parent
        await _add_region(db, "5119", parent="99")
    with pytest.raises(Conflict):  # CHECK constraint
        await _write(
            db, "INSERT INTO regions (code, level, name, path) VALUES ('52', 'planet', 'x', '/52/')"
        )
    with pytest.raises(Conflict):
        async with db.transaction() as tx:
            await tx.executemany(
                "INSERT INTO regions (code, level, name, path) VALUES (?, 'province', ?, ?)",
                [("53", "a", "/53/"), ("53", "b", "/53b/")],
            )
    assert await region_repo.count(db) == 1


async def test_audit_events_cannot_be_changed_or_deleted(db: Database) -> None:
    async with db.transaction() as tx:
        await audit.record(
            tx,
            at=AT,
            actor="operator:test",
            action="region.create",
            entity="region",
            entity_id="51",
            after={"name": "四川省"},
        )
    for statement in (
        "UPDATE audit_events SET actor = 'someone else'",
        "DELETE FROM audit_events",
    ):
        with pytest.raises(Conflict, match=r"error\.conflict") as caught:
            await _write(db, statement)
        assert "append-only" in str(caught.value.params)
    events = await audit.events_for(db, "region", "51")
    assert [(e.actor, e.action, e.after) for e in events] == [
        ("operator:test", "region.create", '{"name": "四川省"}')
    ]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_store_files_are_private(tmp_path: Path) -> None:
    path = tmp_path / "new" / "folder" / "zhucun.db"
    store = await Database.open(path)
    try:
        await store.migrate()
        await _add_region(store, "51")
        assert _mode(path) == 0o600
        for suffix in ("-wal", "-shm"):
            companion = path.with_name(path.name + suffix)
            if companion.exists():
                assert _mode(companion) & 0o077 == 0, suffix
    finally:
        await store.close()


async def test_an_existing_store_is_opened_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "zhucun.db"
    first = await Database.open(path)
    await first.migrate()
    await _add_region(first, "51")
    await first.close()
    second = await Database.open(path)
    try:
        assert await region_repo.count(second) == 1
    finally:
        await second.close()


async def test_integrity_check_is_empty_on_a_sound_store(db: Database) -> None:
    await _add_region(db, "51")
    await _add_region(db, "5119", parent="51")
    assert await db.integrity_check() == []


async def test_integrity_check_reports_broken_references(tmp_path: Path) -> None:
    path = tmp_path / "zhucun.db"
    store = await Database.open(path)
    await store.migrate()
    await store.close()
    raw = sqlite3.connect(path)  # foreign keys are off by default in a bare connection
    raw.execute(
        "INSERT INTO regions (code, parent_code, level, name, path)"
        " VALUES ('5119', '99', 'city', '孤儿', '/99/5119/')"
    )
    raw.commit()
    raw.close()
    store = await Database.open(path)
    try:
        problems = await store.integrity_check()
    finally:
        await store.close()
    assert len(problems) == 1
    assert problems[0].startswith("foreign key: regions")


async def test_concurrent_transactions_do_not_interleave(db: Database) -> None:
    async def add_next(n: int) -> None:
        async with db.transaction() as tx:
            row = await tx.fetchone("SELECT count(*) FROM regions")
            assert row is not None
            await asyncio.sleep(0)  # let the other writers try to get in
            code = f"{60 + row[0]}"
            await tx.execute(
                "INSERT INTO regions (code, level, name, path) VALUES (?, 'province', ?, ?)",
                (code, f"p{n}", f"/{code}/"),
            )

    await asyncio.gather(*(add_next(n) for n in range(10)))
    assert await region_repo.count(db) == 10
