"""The Optimizer base: parameter groups, per-parameter state, state_dict, and the fused step.

An algorithm (SGD, Adam, ...) writes its update for ONE parameter as a dualjit.numpy function
of arrays (PyTorch's documented formulas). step() applies it to every parameter of a group
inside one `dualjit.jit` program, so the whole update is one compiled kernel per step; the
hyperparameters are inputs of the kernel (changing the learning rate does not recompile).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

from ..compiler import dynamic_input, is_compiling, store_result
from ..eager.tensor import Tensor, make_tensor, native_steps, no_grad


class _RequiredParameter:
    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


class Optimizer:
    """Base class: subclasses set `hyper` (names of float hyperparameters passed to the
    kernel), `state_names` (per-parameter state arrays) and implement `update`."""

    hyper: tuple[str, ...] = ()
    state_names: tuple[str, ...] = ()
    # Whether the per-parameter state holds a "step" count (PyTorch's Adam, RMSprop and
    # Adagrad keep one; its SGD does not: its state is the momentum buffer alone)
    counts_steps = True

    def __init__(self, params: Any, defaults: dict):
        self.defaults = defaults
        self.state: defaultdict = defaultdict(dict)
        self.param_groups: list[dict] = []
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            f"Tensors or dicts, but got {type(params).__name__}")
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)
        self._kernels: dict = {}
        self._plans: dict[int, _StepPlan] = {}  # per group (by id), see _plan

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(k for k in group if k != "params"):
                lines.append(f"    {key}: {group[key]}")
        return "\n".join(lines) + "\n)"

    def add_param_group(self, param_group: dict) -> None:
        group = dict(param_group)
        params = group["params"]
        group["params"] = [params] if isinstance(params, Tensor) else list(params)
        for p in group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params "
                                f"is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"parameter group didn't specify a value of required "
                                 f"optimization parameter {name}")
            group.setdefault(name, default)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in group["params"]):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if p._grad is None:
                    continue
                if set_to_none:
                    p._grad = None
                else:
                    if p._grad.grad_fn is not None:
                        p._grad = p._grad.detach()
                    p._grad.zero_()

    # -- the fused step -------------------------------------------------------------------------
    def update(self, p, g, state: dict, h: dict, static: tuple) -> tuple[Any, dict]:
        """One parameter's update: (new value, new state arrays), on dualjit.numpy arrays."""
        raise NotImplementedError

    def hyper_values(self, group: dict) -> list[float]:
        """The values of `hyper` for a group (kernel inputs, read at every step)."""
        return [float(group[h]) for h in self.hyper]

    def static(self, group: dict) -> tuple:
        """Hyperparameters that change the program's structure (booleans, zero or not)."""
        return ()

    def init_state(self, p: Tensor, group: dict) -> dict:
        """The state arrays of a parameter before its first step (zeros by default)."""
        return {name: np.zeros_like(p._value) for name in self.state_names}

    def state_after(self, names: tuple, static: tuple) -> tuple:
        """The names of the state arrays a step leaves, given those it reads (`names`, sorted):
        the same by default; SGD creates its momentum buffer at the first step."""
        return names

    @no_grad()
    def step(self, closure: Callable | None = None) -> Any:
        loss = None
        if closure is not None:
            from ..eager.tensor import enable_grad

            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            self._step_group(group)
        return loss

    def _step_group(self, group: dict) -> None:
        plan = self._plans.get(id(group))
        if plan is None or not plan.holds(self, group):
            plan = self._plan(group)
            if plan is None:
                return
        hyper = dynamic_input(("hyper", id(self), id(group)), lambda: plan.hyper_array(
            self.hyper_values(group)), (len(self.hyper),), np.float64)
        args = [hyper]
        counts = self.counts_steps
        for p, s, n in zip(plan.params, plan.states, plan.names):
            args += [p._value, p._grad._value]
            if counts:
                args.append(s["step"]._value)
            args += [s[k]._value for k in n]
        # A step that creates state (SGD's first: no momentum buffer yet) runs once per
        # parameter set: op by op, not compiled (a kernel for it would be used once).
        if native_steps.enabled and not plan.creates_state:
            outs = plan.kernel(*args)
        else:  # (or dj.compile's eager first call: evaluated op by op, nothing compiled)
            if plan.creates_state and is_compiling():
                raise RuntimeError("the optimizer creates its state while dj.compile traces "
                                   "the step; run one step eagerly first")
            outs = [np.asarray(o) for o in plan.kernel.fun(*args)]
        inputs = {id(a) for a in args}
        del args
        self._store_outputs(plan.params, plan.states, plan.after, outs, inputs)
        if plan.creates_state:
            del self._plans[id(group)]  # (the next step reads the state this one made)

    def _plan(self, group: dict) -> _StepPlan | None:
        """What a step of `group` passes to its kernel, found from the parameters that have
        gradients and their state (kept while StepPlan.holds says nothing changed)."""
        params = [p for p in group["params"] if p._grad is not None]
        if not params:
            self._plans.pop(id(group), None)
            return None
        states = [self._state_of(p, group) for p in params]
        names = [tuple(sorted(k for k in s if k != "step")) for s in states]
        static = self.static(group)
        key = (static, tuple((p._value.dtype, p._value.shape, n) for p, n in zip(params, names)))
        found = self._kernels.get(key)
        if found is None:
            after = [self.state_after(n, static) for n in names]
            found = self._kernels[key] = (self._make_kernel(static, names, after), after)
        plan = _StepPlan(self, group, params, states, names, static, *found)
        self._plans[id(group)] = plan
        return plan

    def _store_outputs(self, params: list, states: list, after: list, outs: list,
                       inputs: set) -> None:
        """Each parameter's new value (in place, as PyTorch's), step count and state arrays."""
        counts, i = self.counts_steps, 0
        for p, s, n in zip(params, states, after):
            # in place: views and .data aliases of p see the update (store_result copies
            # into p's storage unless nothing else can see it)
            store_result(p, outs[i], id(outs[i]) not in inputs)
            i += 1
            if counts:
                s["step"]._value = outs[i]
                i += 1
            for k in n:
                value = outs[i]
                if id(value) in inputs and isinstance(value, np.ndarray):
                    # (an input passed through, e.g. SGD's first buffer = the gradient on
                    # the op-by-op path: the state must not alias p.grad)
                    value = value.copy()
                self._store_state(s, k, value)
                i += 1

    @staticmethod
    def _store_state(state: dict, name: str, value: Any) -> None:
        found = state.get(name)
        if found is not None:
            found._value = value
        else:
            state[name] = make_tensor(value)

    def _state_of(self, p: Tensor, group: dict) -> dict:
        state = self.state[p]
        if not state:
            if self.counts_steps:
                state["step"] = make_tensor(np.zeros((), np.float32))
            for name, value in self.init_state(p, group).items():
                state[name] = make_tensor(value)
        return state

    def _make_kernel(self, static: tuple, names: list[tuple], after: list[tuple]) -> Callable:
        from ..jit import jit

        hyper_names = self.hyper
        update = self.update
        counts = self.counts_steps

        def kernel(hyper, *flat):
            h = {name: hyper[i] for i, name in enumerate(hyper_names)}
            outs, i = [], 0
            for n, n_after in zip(names, after):
                p, g = flat[i], flat[i + 1]
                i += 2
                step = None
                if counts:
                    step = flat[i] + 1.0
                    i += 1
                state = dict(zip(n, flat[i:i + len(n)]))
                i += len(n)
                hp = {k: v.astype(p.dtype) for k, v in h.items()}
                new_p, new_state = update(p, g, state, hp, static,
                                          None if step is None else step.astype(p.dtype))
                outs.append(new_p)
                if counts:
                    outs.append(step)
                outs += [new_state[k] for k in n_after]
            return outs

        kernel.__name__ = f"{type(self).__name__}_step"
        return jit(kernel)

    # -- state_dict -----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """{'state': {index: {name: tensor}}, 'param_groups': [{hyperparameters, 'params':
        [indices]}]}, as PyTorch's (parameters are numbered across groups in order)."""
        index, groups = {}, []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                packed["params"].append(index[id(p)])
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state and self.state[p]:
                    state[index[id(p)]] = {k: (v.detach() if isinstance(v, Tensor) else v)
                                           for k, v in self.state[p].items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        by_index = {}
        for own, saved in zip(self.param_groups, groups):
            if len(own["params"]) != len(saved["params"]):
                raise ValueError("loaded state dict contains a parameter group that doesn't "
                                 "match the size of optimizer's group")
            by_index.update(zip(saved["params"], own["params"]))
            for k, v in saved.items():
                if k != "params":
                    own[k] = v
        self.state = defaultdict(dict)
        for i, values in state_dict["state"].items():
            p = by_index[int(i)]
            self.state[p] = {k: _state_value(v, p) for k, v in values.items()
                             if self.counts_steps or k != "step"}  # (older dualjit SGD)


class _StepPlan:
    """A group's step as the last one ran it: its parameters (those with gradients), their
    state dicts and state names, the structural hyperparameters and the kernel. Reused while
    `holds`: the same parameter objects, each with a gradient, the same state dicts holding
    the same names, the same static options; anything else makes a new plan (_plan)."""

    __slots__ = ("group_params", "params", "states", "names", "keys", "state_map", "static",
                 "kernel", "after", "creates_state", "_hyper")

    def __init__(self, optimizer: Optimizer, group: dict, params: list, states: list,
                 names: list, static: tuple, kernel: Any, after: list):
        self.group_params = list(group["params"])
        self.params, self.states, self.names = params, states, names
        self.keys = [set(s) for s in states]
        self.state_map = optimizer.state
        self.static, self.kernel, self.after = static, kernel, after
        self.creates_state = after != names
        self._hyper: tuple = ((), None)

    def holds(self, optimizer: Optimizer, group: dict) -> bool:
        ps, own = group["params"], self.group_params
        if len(ps) != len(own) or len(own) != len(self.params) or \
                optimizer.state is not self.state_map:
            return False
        state_map = self.state_map
        for p, q, s, keys in zip(ps, own, self.states, self.keys):
            if p is not q or p._grad is None or state_map.get(p) is not s or s.keys() != keys:
                return False
        return optimizer.static(group) == self.static

    def hyper_array(self, values: list) -> np.ndarray:
        """The kernel's hyperparameter input: one read-only array per distinct set of values
        (the same values as the last step's reuse its array)."""
        last_values, array = self._hyper
        if values != last_values:
            array = np.array(values, np.float64)
            array.flags.writeable = False
            self._hyper = (values, array)
        return array


def _state_value(v: Any, p: Tensor) -> Any:
    if isinstance(v, Tensor):
        value = v._value
    elif isinstance(v, np.ndarray):
        value = v
    else:
        return v
    dtype = np.float32 if value.ndim == 0 else p._value.dtype
    return make_tensor(np.array(value, dtype=dtype if value.dtype.kind == "f" else value.dtype))
