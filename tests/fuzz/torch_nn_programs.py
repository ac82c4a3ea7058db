"""nn programs for the PyTorch differential fuzzer: a small model, a loss, an optimizer, a few
training steps (optionally through `lib.compile`), written once against `lib`.

Every choice comes from `random.Random(seed)` and every array (initial parameters, inputs,
targets) from a NumPy generator of the same seed, so torch and dualjit train the same model
from the same start. Recorded: each step's loss, then every parameter and its gradient.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from .torch_programs import Trace, error_record, to_record

ACTIVATIONS = ["ReLU", "Tanh", "Sigmoid", "GELU", "SiLU", "LeakyReLU", "ELU", "Softplus",
               "Identity"]
LOSSES = ["MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "CrossEntropyLoss",
          "BCEWithLogitsLoss", "NLLLoss"]
OPTIMIZERS = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"]


def _model(lib: Any, rng: random.Random, sizes: tuple, spelled: list) -> Any:
    n_in, hidden, n_out = sizes
    nn = lib.nn
    layers = [nn.Linear(n_in, hidden, bias=rng.random() < 0.8)]
    act = rng.choice(ACTIVATIONS)
    layers.append(nn.LeakyReLU(0.1) if act == "LeakyReLU" else getattr(nn, act)())
    # (not over 2 features: its input gradient is ~0, rounding noise that Adam's
    # normalization turns into steps of lr: float32 runs then differ by more than rounding)
    if rng.random() < 0.3 and hidden > 2:
        layers.append(nn.LayerNorm(hidden))
    layers.append(nn.Linear(hidden, n_out))
    spelled.append("Sequential(" + ", ".join(type(m).__name__ for m in layers) + ")")
    return nn.Sequential(*layers)


def _loss(lib: Any, rng: random.Random, spelled: list) -> tuple[Any, str]:
    nn = lib.nn
    name = rng.choice(LOSSES)
    reduction = rng.choice(["mean", "mean", "sum"])
    kwargs: dict = {"reduction": reduction}
    if name == "SmoothL1Loss":
        kwargs["beta"] = rng.choice([1.0, 0.5])
    if name == "HuberLoss":
        kwargs["delta"] = rng.choice([1.0, 0.3])
    if name == "CrossEntropyLoss":
        kwargs["label_smoothing"] = rng.choice([0.0, 0.0, 0.1])
        if rng.random() < 0.3:
            kwargs["ignore_index"] = 1
    spelled.append(f"{name}({kwargs})")
    fn = getattr(nn, name)(**kwargs)
    if name == "NLLLoss":
        log_softmax = nn.LogSoftmax(dim=1)
        return (lambda out, y: fn(log_softmax(out), y)), name
    return fn, name


def _optimizer(lib: Any, rng: random.Random, params: list, spelled: list) -> Any:
    optim = lib.optim
    name = rng.choice(OPTIMIZERS)
    kw: dict = {"lr": rng.choice([0.1, 0.01, 0.05])}
    if rng.random() < 0.4:
        kw["weight_decay"] = rng.choice([0.01, 0.1])
    if name == "SGD":
        kw["momentum"] = rng.choice([0.0, 0.9, 0.5])
        if kw["momentum"] and rng.random() < 0.5:
            kw["nesterov"] = True
        elif kw["momentum"] and rng.random() < 0.3:
            kw["dampening"] = 0.1
    elif name in ("Adam", "AdamW"):
        kw["amsgrad"] = rng.random() < 0.4
        if rng.random() < 0.3:
            kw["betas"] = (0.8, 0.9)
    elif name == "RMSprop":
        kw["momentum"] = rng.choice([0.0, 0.5])
        kw["centered"] = rng.random() < 0.4
    elif name == "Adagrad":
        kw["lr_decay"] = rng.choice([0.0, 0.01])
        kw["initial_accumulator_value"] = rng.choice([0.0, 0.1])
    spelled.append(f"{name}({kw})")
    return getattr(optim, name)(params, **kw)


def _targets(lib: Any, data: np.random.Generator, loss: str, batch: int, n_out: int,
             dtype: str) -> Any:
    if loss in ("CrossEntropyLoss", "NLLLoss"):
        return lib.tensor(data.integers(0, n_out, batch).astype(np.int64))
    if loss == "BCEWithLogitsLoss":
        return lib.tensor(data.random((batch, n_out)).astype(dtype))
    return lib.tensor(data.normal(size=(batch, n_out)).astype(dtype))


def nn_program(lib: Any, seed: int, compiled: bool = False, steps: int = 3) -> Trace:
    """Train the seed's model for `steps` steps; compiled: the step through lib.compile."""
    rng = random.Random(seed)
    data = np.random.default_rng(seed)
    spelled: list[str] = []
    dtype = rng.choice(["float32", "float64"])
    sizes = (rng.choice([1, 3, 4]), rng.choice([2, 5]), rng.choice([2, 3]))
    batch = rng.choice([1, 4, 6])
    lib.manual_seed(0)
    model = _model(lib, rng, sizes, spelled)
    if dtype == "float64":
        model = model.double()
    with lib.no_grad():
        for p in model.parameters():
            p.copy_(lib.tensor(data.normal(scale=0.5, size=tuple(p.shape)).astype(dtype)))
    loss_fn, loss_name = _loss(lib, rng, spelled)
    opt = _optimizer(lib, rng, list(model.parameters()), spelled)
    x = lib.tensor(data.normal(size=(batch, sizes[0])).astype(dtype))
    y = _targets(lib, data, loss_name, batch, sizes[2], dtype)

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    run = lib.compile(step) if compiled else step
    trace = Trace(seed, "nn, compiled" if compiled else "nn")
    head = f"{' '.join(spelled)} {dtype} batch {batch}"
    for k in range(steps):
        label = f"{head}: step {k} loss"
        try:
            trace.records.append(to_record(label, run(x, y)))
        except Exception as e:  # noqa: BLE001 (an error is a result to compare)
            trace.records.append(error_record(label, e))
            return trace
    for name, p in model.named_parameters():
        trace.records.append(to_record(f"{head}: {name}", p))
        trace.records.append(to_record(f"{head}: {name}.grad", p.grad))
    return trace
