"""Backups: a consistent copy while writes continue, restored and found complete; the CLI verb;
the daily job and its retention."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from bot.backup import backup, daily_backup
from bot.cli import main
from bot.config import load_settings
from bot.fieldwork import FileKind
from bot.models import Role
from storage import invites as invite_repo
from storage import members as member_repo
from storage.db import Database
from tests.harness import Harness, persona, running, settings_for

WRITES = 40


async def invite_codes(db: Database) -> set[str]:
    rows = await db.fetchall("SELECT code FROM invites")
    return {row["code"] for row in rows}


async def keep_photo(bot: Harness, number: int) -> str:
    member = await member_repo.by_telegram_id(bot.services.db, persona("member").telegram_id)
    assert member is not None
    kept = await bot.services.files.keep(
        member,
        kind=FileKind.PHOTO,
        telegram_file_id=f"file-{number}",
        file_unique_id=f"u{number}",
        data=f"photo {number}".encode(),
        caption=None,
        size=None,
        source=(persona("member").telegram_id, 10_000 + number),
    )
    assert kept.path is not None
    return kept.path


async def test_a_backup_taken_while_writes_continue_restores_every_entry(tmp_path: Path) -> None:
    async with running(tmp_path) as bot:
        db = bot.services.db
        settings = bot.app.bot_data.settings
        photos = [await keep_photo(bot, n) for n in range(3)]

        async def write() -> None:
            for n in range(WRITES):
                await bot.services.invites.create(
                    role=Role.MEMBER,
                    region_code=persona("member").region_code,
                    name=f"队员{n}",
                    phone=None,
                    days=7,
                    operator="operator:test",
                )
                await asyncio.sleep(0)

        writer = asyncio.create_task(write())
        await asyncio.sleep(0)
        before = await invite_codes(db)
        target = tmp_path / "backups" / "during.db"
        await backup(settings, target)
        await writer
        after = await invite_codes(db)

        copy = await Database.open(target)
        try:
            assert await copy.integrity_check() == []
            in_copy = await invite_codes(copy)
        finally:
            await copy.close()
        # One committed state: everything committed before, nothing that was never committed.
        assert before <= in_copy <= after

        final = tmp_path / "backups" / "final.db"
        await backup(settings, final)
        households = await db.fetchall("SELECT registry_no FROM households ORDER BY id")
        audit_rows = await db.fetchall("SELECT id FROM audit_events ORDER BY id")

    assert final.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "backups" / "final.db.files").stat().st_mode & 0o777 == 0o700
    # Restore, as README says: the store and its files over a new place, then start on it.
    restored = tmp_path / "restored"
    restored.mkdir()
    shutil.copyfile(final, restored / "zhucun.db")
    shutil.copytree(
        tmp_path / "backups" / "final.db.files", restored / "zhucun.db.files", dirs_exist_ok=True
    )
    db2 = await Database.open(restored / "zhucun.db")
    try:
        await db2.migrate()
        assert await invite_codes(db2) == after
        assert [
            r["registry_no"]
            for r in await db2.fetchall("SELECT registry_no FROM households ORDER BY id")
        ] == [r["registry_no"] for r in households]
        assert [r["id"] for r in await db2.fetchall("SELECT id FROM audit_events ORDER BY id")] == [
            r["id"] for r in audit_rows
        ]
        for number, relative in enumerate(photos):
            assert (
                restored / "zhucun.db.files" / relative
            ).read_bytes() == f"photo {number}".encode()
        for code in after:
            assert await invite_repo.get(db2, code) is not None
    finally:
        await db2.close()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("ZHUCUN_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZHUCUN_DB", str(tmp_path / "zhucun.db"))
    return tmp_path


def test_the_backup_verb_copies_the_store_and_its_files(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as migrated:
        main(["db", "migrate"])
    assert migrated.value.code == 0
    photo = env / "zhucun.db.files" / "photo" / "2026-11" / "a.jpg"
    photo.parent.mkdir(parents=True)
    photo.write_bytes(b"jpeg")
    with pytest.raises(SystemExit) as done:
        main(["backup", str(env / "copy.db")])
    assert done.value.code == 0
    assert (env / "copy.db").stat().st_mode & 0o777 == 0o600
    assert (env / "copy.db.files" / "photo" / "2026-11" / "a.jpg").read_bytes() == b"jpeg"
    with pytest.raises(SystemExit) as refused:
        main(["backup", str(env / "zhucun.db")])
    assert refused.value.code == 2


async def test_the_daily_backup_keeps_the_newest(tmp_path: Path) -> None:
    keep_dir = tmp_path / "daily"
    env = {
        "ZHUCUN_BACKUP_DIR": str(keep_dir),
        "ZHUCUN_BACKUP_KEEP": "3",
    }
    async with running(tmp_path, env=env) as bot:
        [job] = bot.app.job_queue.get_jobs_by_name("daily-backup") if bot.app.job_queue else []
        assert job is not None
        settings = load_settings({**settings_for(tmp_path), **env})
        await keep_photo(bot, 1)
        for day in range(1, 7):
            await daily_backup(settings, f"202611{day:02d}-0300")
    names = sorted(p.name for p in keep_dir.iterdir())
    assert names == [
        "zhucun-20261104-0300.db",
        "zhucun-20261104-0300.db.files",
        "zhucun-20261105-0300.db",
        "zhucun-20261105-0300.db.files",
        "zhucun-20261106-0300.db",
        "zhucun-20261106-0300.db.files",
    ]


async def test_no_backup_job_without_a_folder(bot: Harness) -> None:
    assert bot.app.job_queue is not None
    assert bot.app.job_queue.get_jobs_by_name("daily-backup") == ()
