"""Photos and voice notes kept in the store's file folder, so they outlive the bot's token.

The edge downloads the bytes (Telegram's ``getFile`` refuses files over 20 MB: then ``data`` is
None and only the file id is kept) and hands them here; this service writes the file
(owner-only, under ``settings.files_dir``) and its row. The file name derives from the source
message, so a re-delivered message rewrites the same file and finds the same row.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from bot import scope
from bot.clock import Clock
from bot.config import Settings
from bot.errors import Forbidden, InvalidInput
from bot.fieldwork import FileKind, KeptFile
from bot.models import Member
from storage import files as repo
from storage.db import Database

EXTENSIONS = {FileKind.PHOTO: "jpg", FileKind.VOICE: "ogg"}
CAPTION_MAX = 1024
DIR_MODE = 0o700
FILE_MODE = 0o600


class FileService:
    def __init__(self, db: Database, clock: Clock, settings: Settings) -> None:
        self._db = db
        self._clock = clock
        self._root = settings.files_dir

    @property
    def root(self) -> Path:
        return self._root

    async def keep(
        self,
        member: Member,
        *,
        kind: FileKind,
        telegram_file_id: str,
        file_unique_id: str,
        data: bytes | None,
        caption: str | None,
        size: int | None,
        source: tuple[int, int],
    ) -> KeptFile:
        """Write the bytes (when there are any) and record the file; committed on return."""
        if not scope.has_capability(member, scope.Capability.ENTER):
            raise Forbidden()
        cleaned = " ".join((caption or "").split()) or None
        if cleaned is not None and len(cleaned) > CAPTION_MAX:
            raise InvalidInput("files.caption_too_long", limit=CAPTION_MAX)
        existing = await repo.by_source(self._db, *source)
        if existing is not None and existing.member_id == member.id:
            return existing
        relative: str | None = None
        if data is not None:
            month = self._clock.now().strftime("%Y-%m")
            relative = f"{kind.value}/{month}/{source[0]}-{source[1]}-{file_unique_id}"
            relative += f".{EXTENSIONS[kind]}"
            await asyncio.to_thread(_write_private, self._root, relative, data)
        async with self._db.transaction() as tx:
            new_id = await repo.insert(
                tx,
                kind=kind,
                member_id=member.id,
                telegram_file_id=telegram_file_id,
                file_unique_id=file_unique_id,
                path=relative,
                caption=cleaned,
                size=len(data) if data is not None else size,
                source=source,
                created_at=self._clock.now(),
            )
            found = await repo.tx_by_source(tx, *source)
        assert found is not None
        if new_id is None and found.member_id != member.id:
            raise Forbidden()
        return found

    async def files(self, ids: list[int]) -> list[KeptFile]:
        return await repo.get_many(self._db, ids)

    def path_of(self, kept: KeptFile) -> Path | None:
        return self._root / kept.path if kept.path else None


def _write_private(root: Path, relative: str, data: bytes) -> None:
    """Write ``data`` under ``root``, every folder owner-only and the file too."""
    target = root / relative
    folder = root
    for part in (None, *Path(relative).parent.parts):
        if part is not None:
            folder = folder / part
        folder.mkdir(mode=DIR_MODE, exist_ok=True)
        os.chmod(folder, DIR_MODE)
    partial = target.with_name(target.name + ".part")
    fd = os.open(partial, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, target)
