"""Reading operator files: both formats reduce to the same rows, with spreadsheet row numbers."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest
from openpyxl.styles import Font

from bot.tabular import Row, TableError, cell_text, open_table, read_table

ALIASES = {"code": "code", "编码": "code", "name": "name", "名称": "name", "note": "note"}


def write_xlsx(path: Path, rows: list[list[object]]) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def test_csv_with_bom_gives_rows_numbered_as_in_a_spreadsheet(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text('Code,名称\n 0001 ,"甲\n村"\n,\n5119,乙\n\n\n', encoding="utf-8-sig")

    table = read_table(path, ALIASES, ["code"])

    assert table.columns == {"code", "name"}
    assert table.rows == [
        Row(2, {"code": "0001", "name": "甲\n村"}),
        Row(4, {"code": "5119", "name": "乙"}),
    ]


def test_xlsx_cells_read_as_the_text_the_operator_sees(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "r.xlsx",
        [
            ["编码", "名称", "note"],
            [5119, "0001", 31.8802],
            [511902.0, None, 1200.0],
            ["511902101001", "村", date(2024, 11, 25)],
        ],
    )
    book = openpyxl.load_workbook(path)
    sheet = book.active
    assert sheet is not None
    # Trailing rows that only carry formatting or an empty string are not data.
    sheet.cell(row=8, column=1, value="")
    sheet.cell(row=9, column=2).font = Font(bold=True)
    book.save(path)

    table = read_table(path, ALIASES, ["code", "name"])

    assert [row.number for row in table.rows] == [2, 3, 4]
    assert [dict(row.values) for row in table.rows] == [
        {"code": "5119", "name": "0001", "note": "31.8802"},
        {"code": "511902", "name": "", "note": "1200"},
        {"code": "511902101001", "name": "村", "note": "2024-11-25"},
    ]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (True, "TRUE"),
        (7, "7"),
        (511902.0, "511902"),
        (0.1 + 0.2, "0.3"),
        (106.8123, "106.8123"),
        (datetime(2024, 11, 25, 8, 30), "2024-11-25T08:30:00"),
        ("  x ", "  x "),
    ],
)
def test_cell_text(value: object, text: str) -> None:
    assert cell_text(value) == text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "code,名称,海拔\n1,a,3\n",
            "unknown column header '海拔' (known: code/编码, name/名称, note)",
        ),
        ("名称\na\n", "missing required column code/编码"),
        ("code,编码\n1,2\n", "column 'code' appears twice ('code' and '编码')"),
        ("", "no header row: row 1 must name the columns"),
    ],
)
def test_file_level_problems(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "r.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TableError) as caught:
        read_table(path, ALIASES, ["code"])
    assert str(caught.value) == message
    assert caught.value.row is None


def test_value_under_a_blank_header_names_its_row(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("code,\n1,\n2,oops\n", encoding="utf-8")
    with pytest.raises(TableError) as caught:
        read_table(path, ALIASES, ["code"])
    assert str(caught.value) == "row 3: a value in column 2, which has no header"


def test_not_utf8_csv_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes("编码\n1\n".encode("gbk"))
    with pytest.raises(TableError, match="not UTF-8"):
        read_table(path, ALIASES, ["code"])


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("r.xls", "unsupported file type '.xls': save it as .csv or .xlsx"),
        ("r.xlsx", "not a readable .xlsx workbook"),
    ],
)
def test_unreadable_files(tmp_path: Path, name: str, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"not a spreadsheet")
    with pytest.raises(TableError) as caught:
        read_table(path, ALIASES, ["code"])
    assert str(caught.value) == message


def test_missing_file_is_a_table_error(tmp_path: Path) -> None:
    with pytest.raises(TableError, match="cannot read the file"):
        read_table(tmp_path / "absent.csv", ALIASES, ["code"])


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_open_table_streams_rows_and_stops_at_a_bad_one(tmp_path: Path, suffix: str) -> None:
    rows: list[list[object]] = [["code", ""], ["1", None], ["2", None], ["3", "oops"]]
    if suffix == ".csv":
        path = tmp_path / "r.csv"
        path.write_text("code,\n1,\n2,\n3,oops\n", encoding="utf-8")
    else:
        path = write_xlsx(tmp_path / "r.xlsx", rows)
    seen: list[int] = []
    with open_table(path, ALIASES, ["code"]) as table:
        assert table.columns == {"code"}
        rows = iter(table.rows)
        seen.append(next(rows).number)
        seen.append(next(rows).number)
        with pytest.raises(TableError) as caught:
            next(rows)
    assert seen == [2, 3]
    assert str(caught.value) == "row 4: a value in column 2, which has no header"
