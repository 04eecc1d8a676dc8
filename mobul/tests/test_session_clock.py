"""MOBUL_TEST_CLOCK runs a whole test session, and the Python processes its tests start, on a clock that starts
at the chosen instant and ticks (root conftest.py)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _session(clock):
    return subprocess.run(
        [sys.executable, "-m", "pytest", "mobul/tests/session_clock_check.py", "-p", "no:cacheprovider"],
        cwd=ROOT, env={**os.environ, "MOBUL_TEST_CLOCK": clock}, capture_output=True, text=True, timeout=120)


def test_a_session_and_the_processes_it_starts_run_on_the_chosen_clock():
    result = _session("2030-12-31T23:59:58Z")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "clock: 2030-12-31T23:59:58Z (ticking)" in result.stdout
    assert "1 passed" in result.stdout


def test_an_instant_without_a_time_zone_is_refused():
    result = _session("2030-12-31T23:59:58")

    assert result.returncode == 4
    assert "needs a time zone, such as Z" in result.stderr
