"""Operator files (CSV or XLSX) read as rows of text under canonical column names.

Operators prepare imports in WPS or Excel and save either format, with English or Chinese
headers; importers should see one shape and report row numbers exactly as the spreadsheet shows
them (header = row 1), so both formats are reduced here to :class:`Table`.

XLSX cells come back as the text the operator sees for the common cases: a number cell holding
``5119`` or ``511902.0`` reads as ``"5119"`` / ``"511902"``, other numbers use at most 15
significant digits (Excel's own precision), dates read as ISO dates. Leading zeros (``0001``) and
digits beyond the 15th survive only when the cell is formatted as text, because Excel stores the
number, not what was typed: code and registry-number columns must be text cells in the workbook.
"""

from __future__ import annotations

import csv
import zipfile
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import TextIO

import openpyxl
from openpyxl.utils.exceptions import InvalidFileException


class TableError(Exception):
    """The file cannot be read as a table; ``row`` is the spreadsheet row when one is to blame."""

    def __init__(self, reason: str, row: int | None = None) -> None:
        self.reason = reason
        self.row = row
        super().__init__(reason if row is None else f"row {row}: {reason}")


@dataclass(frozen=True)
class Row:
    """One non-blank data row: its spreadsheet row number and a text value per present column."""

    number: int
    values: Mapping[str, str]

    def get(self, column: str) -> str:
        """The cell's text, or ``""`` when the column is blank here or absent from the file."""
        return self.values.get(column, "")


@dataclass(frozen=True)
class Table:
    """The canonical columns the file has, and its data rows in file order."""

    columns: frozenset[str]
    rows: list[Row]


@dataclass(frozen=True)
class RowStream:
    """The canonical columns the file has, and its data rows read one at a time (a county's
    workbook is millions of cells: nothing is kept that the caller does not keep).

    Iterating ``rows`` raises :class:`TableError` at the first row the file cannot give."""

    columns: frozenset[str]
    rows: Iterator[Row]


def normalize_header(text: str) -> str:
    """Header matching ignores case and inner spacing, which operators vary without meaning to."""
    return "".join(text.split()).casefold()


def read_table(path: Path, aliases: Mapping[str, str], required: Collection[str]) -> Table:
    """Read ``path``; ``aliases`` maps every accepted header (any language) to a canonical name."""
    with open_table(path, aliases, required) as table:
        return Table(columns=table.columns, rows=list(table.rows))


@contextmanager
def open_table(
    path: Path, aliases: Mapping[str, str], required: Collection[str]
) -> Iterator[RowStream]:
    """:func:`read_table` as a stream: the file stays open, and rows are read and checked as
    the caller iterates, until the ``with`` block ends."""
    suffix = path.suffix.casefold()
    if suffix == ".csv":
        opened = _open_csv(path)
    elif suffix in (".xlsx", ".xlsm"):
        opened = _open_xlsx(path)
    else:
        raise TableError(f"unsupported file type '{path.suffix}': save it as .csv or .xlsx")
    with opened as records:
        yield _stream(records, aliases, required)


@contextmanager
def _open_csv(path: Path) -> Iterator[Iterator[list[str]]]:
    """The file's records as stripped text."""
    try:
        # utf-8-sig drops the BOM Excel and WPS put in front of "CSV UTF-8" files.
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise TableError(f"cannot read the file: {exc.strerror or exc}") from exc
    with handle:
        yield _csv_records(handle)


def _csv_records(handle: TextIO) -> Iterator[list[str]]:
    try:
        for record in csv.reader(handle):
            yield [cell.strip() for cell in record]
    except UnicodeDecodeError as exc:
        raise TableError("not UTF-8 text: save the CSV as UTF-8 (or use .xlsx)") from exc
    except csv.Error as exc:
        raise TableError(f"malformed CSV: {exc}") from exc
    except OSError as exc:
        raise TableError(f"cannot read the file: {exc.strerror or exc}") from exc


@contextmanager
def _open_xlsx(path: Path) -> Iterator[Iterator[list[str]]]:
    """The first sheet's rows as stripped text."""
    try:
        # Our own handle, closed on the way out even when the rows were not all read (openpyxl
        # leaves the sheet's stream to the garbage collector then).
        handle = path.open("rb")
    except OSError as exc:
        raise TableError(f"cannot read the file: {exc.strerror or exc}") from exc
    with handle:
        try:
            book = openpyxl.load_workbook(handle, read_only=True, data_only=True)
        except (InvalidFileException, zipfile.BadZipFile, KeyError) as exc:
            raise TableError("not a readable .xlsx workbook") from exc
        except OSError as exc:
            raise TableError(f"cannot read the file: {exc.strerror or exc}") from exc
        try:
            sheet = book.worksheets[0]
            # Some writers record a wrong sheet size; forget it so every stored cell is read.
            sheet.reset_dimensions()
            yield _xlsx_records(sheet.iter_rows(values_only=True))
        finally:
            book.close()


def _xlsx_records(rows: Iterable[Sequence[object]]) -> Iterator[list[str]]:
    try:
        for row in rows:
            # Text cells are most cells; only the others need cell_text.
            yield [
                value.strip()
                if type(value) is str
                else ("" if value is None else cell_text(value).strip())
                for value in row
            ]
    except (zipfile.BadZipFile, KeyError, ValueError, SyntaxError) as exc:
        # A damaged sheet (the XML parser's errors are SyntaxErrors) found part way through.
        raise TableError(f"not a readable .xlsx workbook: {exc}") from exc


def cell_text(value: object) -> str:
    """What the operator sees in a cell, as text (see the module docstring for the limits)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return format(value, ".15g")
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def _stream(
    records: Iterator[list[str]], aliases: Mapping[str, str], required: Collection[str]
) -> RowStream:
    header = next(records, [])
    if not any(header):
        raise TableError("no header row: row 1 must name the columns")
    columns = _header_columns(header, aliases)
    present = frozenset(name for name in columns if name is not None)
    missing = [name for name in required if name not in present]
    if missing:
        raise TableError(f"missing required column {_describe(missing[0], aliases)}")
    return RowStream(columns=present, rows=_data_rows(records, columns))


def _header_columns(header: Sequence[str], aliases: Mapping[str, str]) -> list[str | None]:
    """Canonical name per header cell; ``None`` for a blank header, which must have no data."""
    lookup = {normalize_header(alias): name for alias, name in aliases.items()}
    seen: dict[str, str] = {}
    columns: list[str | None] = []
    for text in header:
        if not text:
            columns.append(None)
            continue
        name = lookup.get(normalize_header(text))
        if name is None:
            raise TableError(
                f"unknown column header '{_one_line(text)}' (known: {_known(aliases)})"
            )
        if name in seen:
            raise TableError(f"column '{name}' appears twice ('{seen[name]}' and '{text}')")
        seen[name] = text
        columns.append(name)
    return columns


def _data_rows(records: Iterable[list[str]], columns: Sequence[str | None]) -> Iterator[Row]:
    named = [(index, name) for index, name in enumerate(columns) if name is not None]
    unnamed = [index for index, name in enumerate(columns) if name is None]
    width = len(columns)
    for number, record in enumerate(records, start=2):
        if not any(record):
            # Blank rows (most often trailing ones a spreadsheet keeps) carry nothing to import.
            continue
        size = len(record)
        if size >= width:
            values = {name: record[index] for index, name in named}
        else:
            values = {name: record[index] for index, name in named if index < size}
        for index in unnamed:
            if index < size and record[index]:
                raise TableError(f"a value in column {index + 1}, which has no header", number)
        for index in range(width, size):
            if record[index]:
                raise TableError(f"a value in column {index + 1}, which has no header", number)
        yield Row(number=number, values=values)


def _describe(name: str, aliases: Mapping[str, str]) -> str:
    names = [alias for alias, canonical in aliases.items() if canonical == name]
    return "/".join(dict.fromkeys([name, *names]))


def _known(aliases: Mapping[str, str]) -> str:
    return ", ".join(_describe(name, aliases) for name in dict.fromkeys(aliases.values()))


def _one_line(text: str) -> str:
    return " ".join(text.split())
