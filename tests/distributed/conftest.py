"""One local Ray session for the tests of this package (starting Ray takes seconds)."""

import pytest
import ray


@pytest.fixture(scope="package")
def ray_session():
    # 4 logical CPUs on any machine: two trainer workers and a Ray Data actor never wait for
    # each other (Ray schedules by these numbers, not by the physical cores).
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()
