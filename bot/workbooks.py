"""XLSX writing for the exports: openpyxl in write-only mode, one call per workbook.

A :class:`Sheet` is a title, typed columns and plain row tuples; :func:`write` streams them into
a workbook with a frozen header row, column widths, and date/time columns as real Excel dates
(naive local datetimes with a number format). Pure and synchronous, so callers run it in a
thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

SHEET_TITLE_MAX = 31
_FORBIDDEN = str.maketrans({ch: "_" for ch in "[]:*?/\\"})


class Kind(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    DATETIME = "datetime"


FORMATS = {Kind.DATE: "yyyy-mm-dd", Kind.DATETIME: "yyyy-mm-dd hh:mm"}


@dataclass(frozen=True)
class Column:
    title: str
    width: float = 12
    kind: Kind = Kind.TEXT


@dataclass
class Sheet:
    title: str
    columns: Sequence[Column]
    rows: list[Sequence[Any]] = field(default_factory=list)


def sheet_title(text: str, taken: set[str]) -> str:
    """A valid, unique sheet title: no ``[]:*?/\\``, at most 31 characters."""
    base = text.translate(_FORBIDDEN)[:SHEET_TITLE_MAX] or "_"
    title, number = base, 2
    while title.casefold() in taken:
        suffix = f"({number})"
        title = base[: SHEET_TITLE_MAX - len(suffix)] + suffix
        number += 1
    taken.add(title.casefold())
    return title


def write(sheets: Iterable[Sheet]) -> bytes:
    """The workbook as XLSX bytes."""
    book = Workbook(write_only=True)
    for sheet in sheets:
        _write_sheet(book.create_sheet(sheet.title), sheet)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_HEADER_ALIGN = Alignment(horizontal="center", vertical="center", wrap_text=True)


def _write_sheet(ws: WriteOnlyWorksheet, sheet: Sheet) -> None:
    ws.freeze_panes = "A2"
    for index, column in enumerate(sheet.columns, start=1):
        ws.column_dimensions[get_column_letter(index)].width = column.width
    header = []
    for column in sheet.columns:
        cell = WriteOnlyCell(ws, value=column.title)
        cell.font, cell.fill, cell.alignment = _HEADER_FONT, _HEADER_FILL, _HEADER_ALIGN
        header.append(cell)
    ws.append(header)
    dated = [
        (index, FORMATS[column.kind])
        for index, column in enumerate(sheet.columns)
        if column.kind in FORMATS
    ]
    if not dated:
        for row in sheet.rows:
            ws.append(row)
        return
    for row in sheet.rows:
        values = list(row)
        for index, number_format in dated:
            value = values[index]
            if value is not None:
                cell = WriteOnlyCell(ws, value=value)
                cell.number_format = number_format
                values[index] = cell
        ws.append(values)
