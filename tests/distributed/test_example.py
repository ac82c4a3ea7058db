"""examples/distributed_mlp.py: the data-parallel loss curve is the single-process one."""

import importlib.util
import pathlib

import numpy as np
import pytest

import dualjit as dj

pytestmark = pytest.mark.usefixtures("ray_session")

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "distributed_mlp.py"


def test_the_distributed_mlp_follows_the_single_process_loss_curve():
    spec = importlib.util.spec_from_file_location("distributed_mlp", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    (one, p_one), (many, p_many) = example.train(steps=80)
    np.testing.assert_allclose(many, one, rtol=1e-5)
    for a, b in zip(dj.tree_leaves(p_one), dj.tree_leaves(p_many)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    assert np.mean(one[-10:]) < np.mean(one[:10])  # it learns
