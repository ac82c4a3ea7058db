"""Busy machines for the thread-policy tests: processes that burn every core, and many Python
threads calling compiled code at once, which must all finish (no deadlock) with the right
results."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable


def burners(count: int) -> list[subprocess.Popen]:
    """`count` processes spinning for up to two minutes (kill them when done)."""
    code = "import time\nend = time.time() + 120\nwhile time.time() < end: pass\n"
    return [subprocess.Popen([sys.executable, "-c", code]) for _ in range(count)]


def stop(processes: list[subprocess.Popen]) -> None:
    for p in processes:
        p.kill()
        p.wait()


def assert_callers_finish(check: Callable[[], None], callers: int = 8,
                          calls: int = 3) -> None:
    """Run `check` `calls` times in each of `callers` threads at once: every thread finishes
    within 240 s and no check raised."""
    errors, finished = [], []

    def caller():
        try:
            for _ in range(calls):
                check()
            finished.append(1)
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=caller) for _ in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not any(t.is_alive() for t in threads), "a caller is stuck"
    assert not errors, errors[0]
    assert len(finished) == callers
