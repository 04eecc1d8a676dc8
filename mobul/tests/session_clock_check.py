"""Not collected with the suite (no test_ prefix): test_session_clock.py runs it in a pytest session of its own,
with MOBUL_TEST_CLOCK set."""

import os
import subprocess
import sys
from datetime import datetime, timedelta

from django.utils import timezone


def test_the_session_and_the_processes_it_starts_read_the_chosen_clock():
    chosen = datetime.fromisoformat(os.environ["MOBUL_TEST_CLOCK"])
    assert chosen <= timezone.now() < chosen + timedelta(minutes=1)

    child = subprocess.run([sys.executable, "-c", "import time; print(time.time())"], capture_output=True,
                           text=True, check=True)
    assert chosen.timestamp() <= float(child.stdout) < (chosen + timedelta(minutes=1)).timestamp()
