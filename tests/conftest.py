"""Test configuration: hypothesis profiles (a quick one for CI, a deeper one for local runs)."""

import os
import pathlib
import sys

# Test the tree this file sits in, whatever `pip install -e` points at (several checkouts of the
# repository may share one environment); subprocesses the tests start inherit the same path.
_SRC = str(pathlib.Path(__file__).resolve().parent.parent / "src")
sys.path.insert(0, _SRC)
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (_SRC, os.environ.get("PYTHONPATH")) if p)

os.environ.setdefault("DUALJIT_CHECKS", "1")  # verify the IR after every transform

# jit uses the native backend unless DUALJIT_BACKEND=interpreter; tests/codegen compares the
# two directly, and the rest of the suite runs through whichever is selected.
import pytest  # noqa: E402 (after the path set-up)
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("ci", max_examples=25, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("deep", max_examples=500, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture
def default_recursion_limit():
    """Python's default recursion limit (1,000), whatever the test runner set."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    yield
    sys.setrecursionlimit(old)
