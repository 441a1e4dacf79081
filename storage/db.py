"""One SQLite store, one writer.

Writes go through a single connection guarded by an asyncio lock and ``BEGIN IMMEDIATE``, so a
multi-statement write is one unit and concurrent handlers never interleave inside it. Reads use a
second connection, which in WAL mode sees the last committed state and never a half-done write.

``synchronous=NORMAL`` in WAL mode survives a killed process (the WAL is already in the OS) but
not a power cut in the last moments before a checkpoint; README says so.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

from bot.errors import Conflict

BUSY_TIMEOUT_MS = 5000


@dataclass(frozen=True)
class Migration:
    """A named, ordered schema step; its name is recorded in the store once applied."""

    name: str
    sql: str


def packaged_migrations() -> list[Migration]:
    """The project's migrations, ordered by their numeric file-name prefix."""
    folder = resources.files("storage.migrations")
    found = [
        Migration(entry.name.removesuffix(".sql"), entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".sql")
    ]
    return sorted(found, key=lambda m: m.name)


class Database:
    """The store's connections; open with :meth:`open`, always :meth:`close`."""

    def __init__(self, path: Path, writer: aiosqlite.Connection, reader: aiosqlite.Connection):
        self.path = path
        self._writer = writer
        self._reader = reader
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path) -> Database:
        await asyncio.to_thread(_create_private, path)
        writer = await _connect(path)
        await _pragma(writer, "journal_mode=WAL")
        reader = await _connect(path)
        return cls(path, writer, reader)

    async def close(self) -> None:
        await self._reader.close()
        await self._writer.close()

    async def migrate(self, extra: Sequence[Migration] = ()) -> list[str]:
        """Apply every migration not yet recorded; return the names applied now."""
        async with self._lock:
            await _run(
                self._writer,
                "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY)",
            )
            async with self._writer.execute("SELECT name FROM schema_migrations") as cur:
                done = {row[0] for row in await cur.fetchall()}
            applied: list[str] = []
            for migration in [*packaged_migrations(), *extra]:
                if migration.name in done:
                    continue
                # executescript commits what came before it; BEGIN/COMMIT make the step atomic.
                quoted = migration.name.replace("'", "''")
                try:
                    await self._writer.executescript(
                        f"BEGIN IMMEDIATE;\n{migration.sql}\n"
                        f"INSERT INTO schema_migrations (name) VALUES ('{quoted}');\nCOMMIT;"
                    )
                except BaseException:
                    # A failed script stops mid-way inside its BEGIN; undo it so the writer is free.
                    if self._writer.in_transaction:
                        await _run(self._writer, "ROLLBACK")
                    raise
                applied.append(migration.name)
            return applied

    async def applied_migrations(self) -> list[str]:
        rows = await self.fetchall("SELECT name FROM schema_migrations ORDER BY name")
        return [row["name"] for row in rows]

    async def integrity_check(self) -> list[str]:
        """SQLite's own integrity and foreign-key checks; empty when the store is sound."""
        problems = [
            str(row[0]) for row in await self.fetchall("PRAGMA integrity_check") if row[0] != "ok"
        ]
        problems += [
            f"foreign key: {row['table']} row {row['rowid']} -> {row['parent']}"
            for row in await self.fetchall("PRAGMA foreign_key_check")
        ]
        return problems

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Writer]:
        """One write unit: everything inside commits together or not at all."""
        async with self._lock:
            await _run(self._writer, "BEGIN IMMEDIATE")
            try:
                yield Writer(self._writer)
            except BaseException:
                await _run(self._writer, "ROLLBACK")
                raise
            else:
                await _run(self._writer, "COMMIT")

    async def write(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        """One statement on its own, and the rows it returns (``RETURNING``).

        SQLite makes a single statement atomic by itself, so this needs none of a transaction's
        BEGIN and COMMIT: one hop to the writer's thread instead of three. Anything that must
        change two statements together goes through :meth:`transaction`.
        """
        async with self._lock:
            try:
                return await _fetchall(self._writer, sql, params)
            except sqlite3.IntegrityError as exc:
                raise Conflict("error.conflict", detail=str(exc)) from exc

    async def write_rowcount(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Like :meth:`write`; return how many rows the statement changed."""
        async with self._lock:
            return await _changed(self._writer, sql, params)

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        return await _fetchall(self._reader, sql, params)

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        return _first(await _fetchall(self._reader, sql, params))

    async def iterdump(self) -> list[str]:
        """The store as SQL text; tests compare it to prove an import changed nothing."""
        return [line async for line in self._reader.iterdump()]


class Writer:
    """The statements allowed inside a transaction; integrity errors become ``Conflict``."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run one statement; return the last inserted row id."""
        try:
            row = await self._conn.execute_insert(sql, tuple(params))
        except sqlite3.IntegrityError as exc:
            raise Conflict("error.conflict", detail=str(exc)) from exc
        return int(row[0]) if row and row[0] else 0

    async def execute_rowcount(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run one statement; return how many rows it changed."""
        return await _changed(self._conn, sql, params)

    async def executemany(self, sql: str, rows: Iterable[Iterable[Any]]) -> None:
        try:
            await self._conn.executemany(sql, [tuple(r) for r in rows])
        except sqlite3.IntegrityError as exc:
            raise Conflict("error.conflict", detail=str(exc)) from exc

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        """Read inside the transaction, seeing its own uncommitted writes."""
        return await _fetchall(self._conn, sql, params)

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        return _first(await _fetchall(self._conn, sql, params))


def _create_private(path: Path) -> None:
    """Household data is personal: the store is owner-only from its first byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)


async def _connect(path: Path) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    for pragma in (f"busy_timeout={BUSY_TIMEOUT_MS}", "foreign_keys=ON", "synchronous=NORMAL"):
        await _pragma(conn, pragma)
    return conn


async def _pragma(conn: aiosqlite.Connection, pragma: str) -> None:
    # Closing the cursor matters: an open PRAGMA cursor holds a read lock on the file.
    async with conn.execute(f"PRAGMA {pragma}") as cur:
        await cur.fetchall()


async def _run(conn: aiosqlite.Connection, sql: str) -> None:
    await conn.execute_fetchall(sql)


async def _fetchall(
    conn: aiosqlite.Connection, sql: str, params: Iterable[Any] = ()
) -> list[sqlite3.Row]:
    """Execute and fetch in one trip to the connection's thread.

    Each aiosqlite call is a hop to its worker thread and back (about 0.2 ms here); a cursor used
    with ``async with`` costs three (execute, fetch, close), and a handled update runs a dozen
    statements, so the hops, not SQLite, were most of an update's time.
    """
    return list(await conn.execute_fetchall(sql, tuple(params)))


async def _changed(conn: aiosqlite.Connection, sql: str, params: Iterable[Any]) -> int:
    """Rows a statement changed, from the connection's running total: no second statement.

    Only the holder of the store's write lock uses the writer connection, so nothing else moves
    the total between the two readings.
    """
    before = conn.total_changes
    try:
        await conn.execute_fetchall(sql, tuple(params))
    except sqlite3.IntegrityError as exc:
        raise Conflict("error.conflict", detail=str(exc)) from exc
    return conn.total_changes - before


def _first(rows: list[sqlite3.Row]) -> sqlite3.Row | None:
    return rows[0] if rows else None
