"""The core never imports Ray; dualjit.distributed does."""

import subprocess
import sys

PROGRAM = """
import sys
import numpy as np
import dualjit as dj
dj.deserialize(dj.export(dj.jit(lambda x: x * 2))(np.ones(3)).serialize())
print("ray" in sys.modules)
import dualjit.distributed
print("ray" in sys.modules)
"""


def test_import_dualjit_does_not_import_ray():
    out = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True"]
