"""benchmarks/torch_matched.py keeps earlier tables in its results file (the run-by-run history
of issue 13's T1/T2 measurements) when it writes a new one."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

from benchmarks.torch_matched import INTRO, TITLE, with_history  # noqa: E402

OLD_FORMAT = f"""{TITLE}

2026-12-01 07:47 UTC — machine X

Issue 13 at matched threads: 2 fresh processes

| workload | threads | implementation | ms per run | ratio |
|---|---|---|---:|---:|
| T2 | default | dualjit | 929 (157) |  |
"""


def test_new_tables_come_first_and_earlier_ones_stay():
    first = with_history(OLD_FORMAT, "## 2026-12-01 09:40 UTC — m", "table one, run 1")
    # the same invocation after its second run replaces its own table, not the older ones
    first = with_history(first, "## 2026-12-01 09:40 UTC — m", "table one, run 2")
    second = with_history(first, "## 2026-12-01 10:20 UTC — m", "table two")
    assert second.startswith(f"{TITLE}\n\n{INTRO}\n\n## 2026-12-01 10:20 UTC — m\n\ntable two")
    assert "table one, run 1" not in second
    headings = [line for line in second.splitlines() if line.startswith("## ")]
    assert headings == ["## 2026-12-01 10:20 UTC — m", "## 2026-12-01 09:40 UTC — m",
                        "## 2026-12-01 07:47 UTC — machine X"]
    assert second.count("| T2 | default | dualjit | 929 (157) |  |") == 1
    assert second.index("table one, run 2") < second.index("929 (157)")


def test_a_missing_file_gets_the_title_and_one_table():
    text = with_history("", "## 2026-12-01 11:00 UTC — m", "only table")
    assert text == f"{TITLE}\n\n{INTRO}\n\n## 2026-12-01 11:00 UTC — m\n\nonly table\n"
