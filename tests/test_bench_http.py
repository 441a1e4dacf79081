"""``bench.http`` at its tiny size: both bot processes start, poll over loopback HTTP, answer
every message (any other reply fails the run) and report the two rows the table expects."""

from __future__ import annotations

from bench import http
from bench.report import table


def test_tiny_run_reports_both_figures() -> None:
    visits, memory = http.rows("tiny")
    assert " visits/s" in visits.value and visits.ratio is not None and visits.ratio > 0
    assert visits.met is not None and visits.target == "≥ 0.7"
    assert memory.ratio is None
    if memory.met is not None:  # Linux: the bot's VmHWM was read
        assert memory.value.endswith(" MB") and float(memory.value.split()[0]) > 0
    assert table([visits, memory]).count("\n") == 3
