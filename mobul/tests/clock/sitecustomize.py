"""Python processes started by a test session whose clock is frozen (`MOBUL_TEST_CLOCK`) read the same clock.

The root conftest puts this folder on PYTHONPATH and exports the session's shift from real time, so a Celery
worker or a `manage.py` a test starts travels too, to real time plus that shift, ticking like the session.
Python processes without time-machine (a system tool written in Python) keep the real clock."""

import os

shift = os.environ.get("MOBUL_TEST_CLOCK_SHIFT")
if shift:
    try:
        import time_machine
    except ImportError:
        time_machine = None
    if time_machine is not None:
        import time

        time_machine.travel(time.time() + float(shift), tick=True).start()
