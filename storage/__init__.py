"""The shared store: SQLite through aiosqlite; the only package that contains SQL."""
