"""The examples run and reach the results they claim."""

import importlib.util
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from . import reference_training

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cubic_fit_both_spellings_agree_and_loss_falls():
    cubic = load("cubic_fit")
    start = [0.3, -0.2, 0.5, 0.1]
    params, losses = cubic.imperative(start, steps=300)
    fparams, floss = cubic.functional(start, steps=300)
    assert losses[-1] < losses[0] / 5 and all(b <= a * (1 + 1e-6) for a, b in zip(losses, losses[1:]))
    np.testing.assert_allclose(params, fparams, rtol=1e-3, atol=1e-5)


def test_linear_regression_learns_the_slope_and_shows_pitfalls():
    lr = load("linear_regression")
    w, b, loss = lr.train()
    assert abs(w - 2) < 0.25 and loss < 1.0
    messages = lr.pitfalls()
    assert "in-place operation" in messages[0] and "is_leaf=False, grad=None" in messages[1]


def test_autograd_tour_prints_the_seed_values():
    lines = load("autograd_tour").tour()
    assert "4.5" in lines[4] and "5.5" in lines[5] and "[[1., 1.]," in lines[6]
    assert lines[7] == "tensor([2.   , 0.2  , 0.02 , 0.002])"
    assert lines[8] == "True False True tensor(2.)"
    assert lines[9] == "tensor([100.], requires_grad=True) tensor([2.])"


def test_mlp_learns_the_spirals():
    history, accuracy = load("mlp").train(steps=300)
    assert history[-1] < history[0] * 0.8 and accuracy > 0.7


@pytest.mark.parametrize("script", ["autograd_tour.py", "linear_regression.py"])
def test_scripts_run_from_the_command_line(script):
    result = subprocess.run([sys.executable, str(EXAMPLES / script)], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "tensor(" in result.stdout or "w = " in result.stdout


# -- PyTorch programs (examples/pytorch): `import dualjit as torch` is their only change ----------

PYTORCH = EXAMPLES / "pytorch"
PYTORCH_EXAMPLES = ["polynomial_tensor", "polynomial_autograd", "polynomial_custom_function",
                    "polynomial_nn", "polynomial_module", "mlp_classifier"]
QUICK_STEPS = {"polynomial_tensor": 100, "polynomial_autograd": 100,
               "polynomial_custom_function": 100, "polynomial_nn": 100,
               "polynomial_module": 100, "mlp_classifier": 1}


def load_pytorch_example(name):
    import types

    path = PYTORCH / f"{name}.py"
    source = path.read_text()
    first = "import dualjit as torch  # the only change from the PyTorch program: import torch"
    assert source.count(first) == 1 and source.count("dualjit") == 1
    module = types.ModuleType(f"{name}_example")
    module.__file__ = str(path)
    exec(compile(source, str(path), "exec"), module.__dict__)
    return module


@pytest.mark.parametrize("name", PYTORCH_EXAMPLES)
def test_pytorch_examples_train_and_reach_their_loss(name):
    module = load_pytorch_example(name)
    losses = module.main()  # (asserts its own final loss)
    assert losses[-1] < losses[0]


def _parameters(built):
    return list(built.parameters()) if hasattr(built, "parameters") else list(built)


@pytest.mark.parametrize("name", PYTORCH_EXAMPLES)
def test_pytorch_examples_match_a_numpy_reimplementation_from_the_same_start(name):
    """Losses and final parameters against tests/reference_training.py: the same training
    loop written in NumPy from PyTorch's documented formulas (no dualjit, no torch)."""
    module = load_pytorch_example(name)
    built = module.build()
    start = [p.detach().numpy().astype(np.float32) for p in _parameters(built)]
    losses = module.train(built, QUICK_STEPS[name])
    reference = getattr(reference_training, name)
    if name == "mlp_classifier":
        x, labels = (t.numpy() for t in module.make_data())
        want_losses, want_params = reference(start, QUICK_STEPS[name], x, labels)
    else:
        want_losses, want_params = reference(start, QUICK_STEPS[name])
    np.testing.assert_allclose(losses, want_losses, rtol=2e-3)
    for got, want in zip(_parameters(built), want_params):
        np.testing.assert_allclose(got.detach().numpy(), want, rtol=2e-3, atol=2e-3)
