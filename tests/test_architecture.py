"""The layers of design.md: Telegram is the edge, services are the rules, storage holds the SQL."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "handlers", "storage", "locales")

# Modules that must work without Telegram (so another channel can be added later).
CORE = ("bot.services", "storage", "bot.models", "bot.scope", "bot.errors", "locales")
SQL = re.compile(r"\b(SELECT\s|INSERT\s+INTO\b|UPDATE\s|DELETE\s+FROM\b|CREATE\s+TABLE\b|PRAGMA\s)")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    return {
        _module_name(path): path for package in PACKAGES for path in (ROOT / package).rglob("*.py")
    }


def _imports(module: str, path: Path) -> set[str]:
    """Every module named by an import statement anywhere in the file (lazy ones included)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _in(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _reachable(start: str, sources: dict[str, Path]) -> dict[str, str]:
    """Modules reached from ``start`` through project imports: name → the module importing it."""
    seen: dict[str, str] = {}
    todo = [m for m in sources if _in(m, start)]
    for module in todo:
        seen.setdefault(module, "(start)")
    while todo:
        module = todo.pop()
        for imported in _imports(module, sources[module]):
            if imported in seen:
                continue
            seen[imported] = module
            if imported in sources:
                todo.append(imported)
    return seen


def test_the_import_scan_sees_telegram_where_it_is() -> None:
    sources = _sources()
    assert any(_in(m, "telegram") for m in _imports("bot.app", sources["bot.app"]))
    assert any(_in(m, "telegram") for m in _reachable("handlers", sources))


@pytest.mark.parametrize("core", CORE)
def test_core_modules_never_import_telegram_even_indirectly(core: str) -> None:
    sources = _sources()
    assert any(_in(m, core) for m in sources), core
    reached = _reachable(core, sources)
    edge = {
        name: importer
        for name, importer in reached.items()
        if _in(name, "telegram")
        or _in(name, "handlers")
        or name in {"bot.app", "bot.context", "bot.demo", "bot.cli"}
        or _in(name, "bot.standin")
    }
    assert edge == {}, "imported by: " + repr(edge)


def test_core_modules_import_cleanly_without_telegram() -> None:
    """At run time too: importing the core loads no telegram module."""
    code = (
        "import sys, importlib\n"
        f"for name in {[*CORE, 'storage.db', 'bot.services.imports']!r}:\n"
        "    importlib.import_module(name)\n"
        "loaded = sorted(m for m in sys.modules if m == 'telegram' or m.startswith('telegram.'))\n"
        "print(loaded)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_handlers_reach_the_store_only_through_services() -> None:
    sources = _sources()
    direct = {
        module: sorted(
            name
            for name in _imports(module, path)
            if _in(name, "storage") or name in {"sqlite3", "aiosqlite"}
        )
        for module, path in sources.items()
        if _in(module, "handlers")
    }
    assert {module: names for module, names in direct.items() if names} == {}


def test_sqlite_is_used_only_by_storage() -> None:
    sources = _sources()
    users = sorted(
        module
        for module, path in sources.items()
        if not _in(module, "storage") and {"sqlite3", "aiosqlite"} & _imports(module, path)
    )
    assert users == []


def _strings(path: Path) -> Iterator[tuple[int, str]]:
    """Every string literal, f-string parts included, with its line number."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def test_sql_appears_only_under_storage() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {text.strip()[:60]}"
        for module, path in _sources().items()
        if not _in(module, "storage") and not _in(module, "bot.standin")
        for line, text in _strings(path)
        if SQL.search(text)
    ]
    assert offenders == []


def test_the_sql_scan_finds_sql_in_storage() -> None:
    found = [
        module
        for module, path in _sources().items()
        if _in(module, "storage") and any(SQL.search(text) for _, text in _strings(path))
    ]
    assert {"storage.db", "storage.members", "storage.regions"} <= set(found)
