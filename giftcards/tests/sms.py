"""An SMS backend for the delivery fault tests' worker processes: it records each send in a file."""

import os
import time

from mobul.tests.processes import app_environment

SMS_LOG_VARIABLE, SMS_DELAY_VARIABLE = "MOBUL_TEST_SMS_LOG", "MOBUL_TEST_SMS_DELAY"


class FileSmsBackend:
    """Appends the number of each SMS to the file named by $MOBUL_TEST_SMS_LOG, durably, then waits
    $MOBUL_TEST_SMS_DELAY seconds: a provider that has taken the message and not yet answered."""

    def send(self, *, to, body):
        with open(os.environ[SMS_LOG_VARIABLE], "a") as log:
            log.write(f"{to}\n")
            log.flush()
            os.fsync(log.fileno())
        time.sleep(float(os.environ.get(SMS_DELAY_VARIABLE, "0")))


def sms_sent(path):
    """Numbers in the SMS log, one per send."""
    return path.read_text().split() if path.exists() else []


def texting_environment(redis_server, **extra):
    """app_environment() of a process that sends SMS through FileSmsBackend."""
    return app_environment(redis_server, SMS_BACKEND=f"{__name__}.FileSmsBackend", **extra)
