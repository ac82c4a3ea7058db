"""Tests of native code generation."""

import subprocess
import sys


def run_python(code: str, env: dict | None = None) -> str:
    """Run `code` in a fresh interpreter (a crash fails the test, not the run); its stdout."""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout
