"""The operator's ``zhucun`` command, run in-process (and once as the installed script)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.cli import main
from bot.sample import sample_file
from storage import members as member_repo
from tests.harness import running


@dataclass
class Outcome:
    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean ``ZHUCUN_*`` environment with the store in ``tmp_path``; no stray ``.env``."""
    for name in list(os.environ):
        if name.startswith("ZHUCUN_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZHUCUN_DB", str(tmp_path / "zhucun.db"))
    return tmp_path


def zhucun(capsys: pytest.CaptureFixture[str], *argv: str) -> Outcome:
    with pytest.raises(SystemExit) as caught:
        main(list(argv))
    captured = capsys.readouterr()
    code = caught.value.code
    return Outcome(code if isinstance(code, int) else 1, captured.out, captured.err)


def test_run_without_a_token_says_how_in_one_line(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = zhucun(capsys, "run")
    assert result.code == 2
    assert len(result.err_lines) == 1
    assert "ZHUCUN_BOT_TOKEN" in result.err
    assert "zhucun demo" in result.err
    assert result.out == ""


def test_a_blank_token_counts_as_missing(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZHUCUN_BOT_TOKEN", "  ")
    result = zhucun(capsys, "run")
    assert result.code == 2
    assert "ZHUCUN_BOT_TOKEN" in result.err


@pytest.mark.parametrize("argv", [["run"], ["db", "migrate"], ["invite", "--role", "admin"]])
@pytest.mark.parametrize(
    ("name", "value"),
    [("ZHUCUN_TZ", "Nowhere/Special"), ("ZHUCUN_REQUIRED_DAYS", "lots"), ("ZHUCUN_PROXY", "x")],
)
def test_a_malformed_setting_stops_any_verb_with_one_line(
    env: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    name: str,
    value: str,
) -> None:
    monkeypatch.setenv(name, value)
    result = zhucun(capsys, *argv)
    assert result.code == 2
    assert len(result.err_lines) == 1
    assert result.err_lines[0].startswith(f"{name}: ")
    assert "Traceback" not in result.err
    assert not (env / "zhucun.db").exists()


def test_db_migrate_and_check(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = zhucun(capsys, "db", "migrate")
    assert first.code == 0
    assert "0001_core" in first.out
    again = zhucun(capsys, "db", "migrate")
    assert again.code == 0
    check = zhucun(capsys, "db", "check")
    assert check.code == 0
    assert check.out.strip().splitlines()[-1] == "ok"
    assert (env / "zhucun.db").stat().st_mode & 0o777 == 0o600


def test_import_regions_then_households_and_again(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    regions = zhucun(capsys, "import", "regions", str(sample_file("regions.csv")))
    assert regions.code == 0, regions.err
    assert regions.out.strip() == "regions: 9 created, 0 updated, 0 unchanged"
    households = zhucun(capsys, "import", "households", str(sample_file("households.csv")))
    assert households.code == 0, households.err
    assert households.out.strip() == "households: 13 created, 0 updated, 0 unchanged"
    again = zhucun(capsys, "import", "households", str(sample_file("households.csv")))
    assert again.out.strip() == "households: 0 created, 0 updated, 13 unchanged"


def test_a_bad_file_is_refused_with_one_line(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = env / "bad_regions.csv"
    bad.write_text("code,parent_code,level,name\n51,,province,四川省\n5119,51,planet,巴中市\n")
    result = zhucun(capsys, "import", "regions", str(bad))
    assert result.code == 1
    assert len(result.err_lines) == 1
    assert result.err_lines[0].startswith("bad_regions.csv: row 3: ")
    assert "planet" in result.err
    assert "Traceback" not in result.err
    # Nothing of the file was written.
    assert zhucun(capsys, "import", "regions", str(sample_file("regions.csv"))).out.startswith(
        "regions: 9 created"
    )


def test_a_missing_file_is_refused_with_one_line(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = zhucun(capsys, "import", "households", str(env / "nope.csv"))
    assert result.code == 1
    assert len(result.err_lines) == 1
    assert "nope.csv" in result.err
    assert "Traceback" not in result.err


async def test_an_invite_from_the_cli_registers_through_the_bot(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def cli() -> Outcome:
        zhucun(capsys, "import", "regions", str(sample_file("regions.csv")))
        return zhucun(
            capsys, "invite", "--role", "member", "--region", "511902101001", "--name", "李明"
        )

    result = await asyncio.to_thread(cli)
    assert result.code == 0, result.err
    lines = result.out.strip().splitlines()
    code = lines[-1]
    assert code == code.strip()
    assert " " not in code
    assert len(code) >= 12
    assert f"/start {code}" in result.out

    async with running(env, people=False) as bot:
        replies = await bot.command(4001, "start", code)
        assert len(replies) == 1
        assert "李明" in replies[0]
        assert "石桥村" in replies[0]
        member = await bot.services.members.identify(4001)
        assert member is not None
        assert member.name == "李明"
        assert [(m.role.value, m.region_code) for m in member.memberships] == [
            ("member", "511902101001")
        ]
        stored = await member_repo.get(bot.services.db, member.id)
        assert stored == member
        again = await bot.command(4002, "start", code)
        assert "李明" not in again[0]  # the code is spent


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--role", "member", "--region", "999"], "There is no region with code 999."),
        (["--role", "member", "--region", "511902101"], "needs a region at its own level"),
        (["--role", "township", "--region", "511902101001"], "needs a region at its own level"),
        (["--role", "member"], "needs a region at its own level"),
        (["--role", "admin", "--region", "511902"], "Administrators belong to no region"),
        (["--role", "member", "--region", "511902101001", "--days", "0"], "between 1 and"),
    ],
)
def test_invite_refusals_are_one_clear_line(
    env: Path, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    zhucun(capsys, "import", "regions", str(sample_file("regions.csv")))
    result = zhucun(capsys, "invite", *argv)
    assert result.code == 1
    assert len(result.err_lines) == 1
    assert expected in result.err
    assert result.out == ""


def test_an_admin_invite_needs_no_region(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = zhucun(capsys, "invite", "--role", "admin")
    assert result.code == 0, result.err
    assert "role: admin" in result.out


def test_unknown_role_is_a_usage_error(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = zhucun(capsys, "invite", "--role", "mayor")
    assert result.code == 2
    assert "mayor" in result.err


def test_the_installed_console_script_runs() -> None:
    script = Path(sys.executable).parent / "zhucun"
    assert script.exists(), "pip install -e . installs the zhucun script"
    done = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    for verb in ("run", "db", "import", "invite"):
        assert verb in done.stdout
