"""Checks for assignment a02_optimizers: test problems, comparisons with ``torch.optim``, the task's limits.

The notebook's tools cell imports the helpers a student uses while working (:func:`tanh_regression`,
:func:`optimizer_trajectory`, :func:`check_against_torch`, :func:`compare_with_torch`,
:func:`minimise`); the test cells call them from this module, so a student cell that redefines one
of those names changes nothing in the grading. Every call of the student's code (constructors,
``step``, ``zero_grad``, reading ``state``, setting a hyperparameter) goes through
:func:`call_graded`, which runs it under :func:`course_utils.grading.call_student` with
:func:`optimizer_limits`. The oracle is PyTorch's own ``torch.optim.SGD`` and ``torch.optim.Adam``,
checked to be the genuine classes before every comparison (:func:`genuine_torch_optimizer`). The
limits are built afresh by a function on every call, not read from a module constant a student cell
could rebind; a student cell that replaces this module's functions is undone before every test cell
by the grader's kernel runner (:mod:`course_utils.grader.execute`).

Limits (all parts, stated in the notebook's rules): no ``torch.optim`` in any form (the classes, the
functional ``torch.optim.adam.adam``, ``torch.optim.sgd.sgd``, ``torch.optim._functional``), no fused
or foreach kernels (``torch._fused_*``, ``torch._foreach_*``, anything reached through ``torch.ops``),
and not the course's reference optimisers in ``course_utils.optim``.

Promise list (what the instructions promise, and the check that holds the student to it)
----------------------------------------------------------------------------------------
``Optimizer`` and ``zero_grad`` (test ``test_zero_grad``):

- Z1 ``Optimizer(params, lr)`` keeps the very tensors it is given, from a list or a generator, in
  ``self.params``, the learning rate in ``self.lr`` and one empty dict per parameter in
  ``self.state``; an empty parameter list or ``lr < 0`` raises ``ValueError``.
  -> :func:`check_optimizer_fields`
- Z2 after ``zero_grad()`` no old gradient is left: every ``.grad`` is ``None`` (or zero), a
  parameter that had no gradient still has none, and the next backward pass gives exactly the new
  gradient (nothing accumulates). -> :func:`check_zero_grad`
- Z3 ``zero_grad()`` works when some or all ``.grad`` are ``None`` (before the first backward pass)
  and when called twice in a row. -> :func:`check_zero_grad`
- Z4 ``zero_grad()`` changes neither the parameters (values, ``requires_grad``) nor ``self.state``,
  and clears only its own parameters: another optimiser's parameters keep their gradients.
  -> :func:`check_zero_grad`; in a training loop: ``check_against_torch(..., use_zero_grad=True)``
  in ``test_momentum`` and ``test_adam`` (a ``zero_grad`` that resets the state breaks momentum).

Every optimiser (``test_gd``, ``test_momentum``, ``test_adam``): ``check_against_torch`` runs the
student's class and torch's on the same problem and requires, after every step,

- S1 the same parameters as torch (float64: to 1e-9 relative; float32: to 1e-3 relative), on
  fresh random problems, shapes and hyperparameters (:func:`random_problem`);
- S2 updates in place: the tensors the optimiser was given change, stay leaf tensors that require
  grad, and keep their dtype; a message names a step that rebinds instead of updating;
- S3 parameters whose ``.grad`` is ``None`` are skipped: value and state unchanged, whether the
  gradient is missing from the start (``unused``), or only on some steps (``gain``, ``shift`` in
  :func:`random_problem`; ``gain`` only in :func:`tanh_regression`); with gradients zeroed in place
  (``zero_in_place=True``, like ``zero_grad(set_to_none=False)``) a zero gradient is a gradient;
- S4 ``p.grad`` is left exactly as it was (weight decay computes a new tensor), and the state holds
  copies: zeroing ``p.grad`` in place does not change it (``zero_in_place=True``);
- S5 hyperparameters are read from the attributes at every step: changing ``lr``,
  ``weight_decay``, ``momentum``, ``betas`` or ``eps`` on the object between steps
  (``changes=...``) acts from the next step on, with the state carried on, exactly as changing
  ``param_groups[0][...]`` does in torch;
- S6 the state is per parameter (parameters of the same shape included: ``b1``, ``b2`` and
  ``shift`` in :func:`random_problem`) and per optimiser object: two optimisers on different
  tensors stepping in turn, and a third created afterwards, each match torch
  (:func:`check_separate_optimizers`);
- S7 float32 and float64 parameters (``random_problem(rng, dtype=torch.float32)``);
- S8 none of the forbidden code runs (:func:`optimizer_limits`), whatever name it is imported under;
  a verbatim copy of a course reference function is refused too (the guard recognises its bytecode);
- S9 no method is the course's reference update rule with names changed (:func:`check_own_code`).

``GD`` (``test_gd``): G1 ``p <- p - lr * (p.grad + weight_decay * p)``, the update of
``torch.optim.SGD(lr, weight_decay)``; S1-S5, S7-S9 (GD keeps no state).

``SGDMomentum`` (``test_momentum``): M1 the velocity starts as a copy of the first gradient and then
follows ``v <- momentum * v + g`` with ``g = p.grad + weight_decay * p``, ``p <- p - lr * v``, the
update of ``torch.optim.SGD(lr, momentum, weight_decay)``; checked by hand for two steps and
against torch; M2 ``self.state[i]["velocity"]`` equals torch's ``momentum_buffer`` after every
step, and ``self.state[i]`` stays empty until ``params[i]`` first gets a gradient; S1-S9.

``Adam`` (``test_adam_first_steps``, ``test_adam``): A1 bias-corrected moments, ``eps`` after the
square root, L2 weight decay added to the gradient: the update of ``torch.optim.Adam(lr, betas,
eps, weight_decay)``; the first steps by hand (each coordinate moves by ``lr * g / (|g| + eps)``),
then with hand-set gradients of sizes from 1e-4 to 1e3 and a step without a gradient, against
torch (:func:`check_adam_hand_steps`); gradients scaled by 1e4 and
1e-6 (``loss_scale``), ``eps`` from 1e-8 to 0.1; A2 ``self.state[i]`` holds ``"t"`` (the number
of steps of that parameter), ``"m"`` and ``"v"``, equal to torch's ``step``, ``exp_avg`` and
``exp_avg_sq`` after every step, empty until the parameter first gets a gradient, so ``t`` is per
parameter; S1-S9.

Convergence (``test_convergence``): C1 ``SGDMomentum(lr=2e-3, momentum=0.9)`` and
``Adam(lr=0.1)`` end within 1e-3 of (1, 1) after 1,500 steps on Rosenbrock from (-1.5, 2); C2 on
fresh random ill-conditioned quadratic bowls in 8 dimensions (:func:`random_bowl`): ``Adam(lr=0.1)``
on an axis-aligned bowl with curvatures from 0.1 to 100 ends within 1e-3 of the minimum after 600
steps, ``SGDMomentum(lr=0.01, momentum=0.9)`` on a rotated one with curvatures from 1 to 100 after
400 steps. The solution always does: over 1,000 random bowls its largest error was 3e-12 (Adam) and
5e-9 (momentum).

Robustness of the tolerances: over 60 random draws of every hidden ``check_against_torch`` case, the
largest deviation from torch of the solution and of five honestly different implementations (GD
with ``p.mul_(1 - lr * wd)``, momentum from ``v = 0`` with new tensors, Adam written like torch's
``addcdiv_``, Adam in the paper's "efficient" form with ``eps * sqrt(1 - beta2^t)``, Adam with an
``update`` helper) was 2 % of the tolerance in float64 and 5 % in float32; over 1,000 draws of
:func:`check_adam_hand_steps` none of them failed. Every mutant in ``tests/mutants/a02_optimizers/``
fails a case whose signal does not depend on the random draw.
"""

from __future__ import annotations

import inspect
import math
import os
import sys
from typing import Any, Callable, Sequence

import numpy as np
import torch

from course_utils import grading as G

RULE = ("Your optimisers write their updates with tensor operations: no torch.optim in any form (its classes, the "
        "functional torch.optim.adam.adam, torch.optim.sgd.sgd or torch.optim._functional), no fused or foreach "
        "kernels (torch._fused_*, torch._foreach_*, anything reached through torch.ops), and not the course's "
        "reference optimisers in course_utils.optim.")

Problem = tuple[list[torch.Tensor], Callable[[list[torch.Tensor], int], torch.Tensor]]

# The state each optimiser keeps per parameter, by the name the notebook gives it -> torch's name for it.
MOMENTUM_STATE = {"velocity": "momentum_buffer"}
ADAM_STATE = {"t": "step", "m": "exp_avg", "v": "exp_avg_sq"}


def optimizer_limits() -> G.Limits:
    """What the student's optimisers may not run (built afresh on every call, so no student cell can loosen it)."""
    return G.Limits(
        modules=("torch.optim", "torch._ops"),
        functions=("torch._fused_*", "torch._foreach_*",
                   "course_utils.optim.Optimizer", "course_utils.optim.SGD", "course_utils.optim.Adagrad",
                   "course_utils.optim.RMSprop", "course_utils.optim.Adadelta", "course_utils.optim.Adam"),
        rule=RULE,
    )


NO_TORCH_OPTIM = optimizer_limits()  # for readers; the tests call optimizer_limits() every time


def call_graded(func: Callable, *args: Any, **kwargs: Any) -> Any:
    """Call the student's code under the grader's guard with this assignment's limits."""
    return G.call_student(func, *args, limits=optimizer_limits(), **kwargs)


# ------------------------------------------------------------------ test problems


def tanh_regression(seed: int = 0, n_samples: int = 32, n_inputs: int = 4, n_hidden: int = 3,
                    extra_params: bool = False, loss_scale: float = 1.0, dtype: torch.dtype = torch.float64) -> Problem:
    """A small non-convex problem: the squared error of a one-hidden-layer tanh network.

    Returns ``(initial_values, loss_at_step)``: a list of starting values, and
    ``loss_at_step(params, step)``, the scalar loss at those parameters. The parameters are ``W``
    (n_inputs, n_hidden) and ``b`` (n_hidden,). With ``extra_params=True`` two more follow:
    ``unused`` (2, 2), which the loss never touches (its ``.grad`` stays None), and a scalar
    ``gain`` that enters the loss only on every third step.
    """
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(n_samples, n_inputs, generator=generator, dtype=torch.float64).to(dtype)  # (N, d)
    y = torch.randn(n_samples, generator=generator, dtype=torch.float64).to(dtype)  # (N,)
    initial_values = [torch.randn(n_inputs, n_hidden, generator=generator, dtype=torch.float64),
                      torch.randn(n_hidden, generator=generator, dtype=torch.float64)]
    if extra_params:
        initial_values += [torch.randn(2, 2, generator=generator, dtype=torch.float64),
                           torch.tensor(0.5, dtype=torch.float64)]
    initial_values = [value.to(dtype) for value in initial_values]

    def loss_at_step(params: list[torch.Tensor], step: int) -> torch.Tensor:
        W, b = params[0], params[1]
        loss = ((torch.tanh(X @ W) @ b - y) ** 2).mean()  # (N, d) @ (d, h) -> (N, h) @ (h,) -> (N,)
        if extra_params and step % 3 == 0:
            loss = loss + 0.1 * (params[3] * b.sum() - 1.0) ** 2  # the scalar gain gets a gradient now
        return loss_scale * loss

    return initial_values, loss_at_step


def random_problem(rng: np.random.Generator, dtype: torch.dtype = torch.float64, loss_scale: float = 1.0) -> Problem:
    """A fresh non-convex problem for hidden tests: a two-layer tanh network with parameters that skip steps.

    The parameters, in order: ``W1`` (d, h), ``b1`` (h,), ``W2`` (h, h), ``b2`` (h,), ``w_out`` (h,),
    ``unused`` (a random shape; never gets a gradient), ``gain`` (a scalar that gets a gradient only on
    random steps, never on the first), ``shift`` (h,) (a gradient on the first step, then on random
    steps). ``b1``, ``b2`` and ``shift`` share a shape, so state kept by shape instead of by
    parameter shows. Sizes, data and which steps use ``gain`` and ``shift`` are drawn from ``rng``.
    """
    generator = G.torch_generator(rng)
    n, d, h = int(rng.integers(8, 33)), int(rng.integers(2, 7)), int(rng.integers(2, 6))

    def draw(*shape: int, scale: float = 1.0) -> torch.Tensor:
        return (scale * torch.randn(shape, generator=generator, dtype=torch.float64)).to(dtype)

    X, y = draw(n, d), draw(n)
    unused_shape = tuple(int(k) for k in rng.integers(1, 4, size=int(rng.integers(1, 3))))
    initial_values = [draw(d, h, scale=1 / math.sqrt(d)), draw(h, scale=0.5), draw(h, h, scale=1 / math.sqrt(h)),
                      draw(h, scale=0.5), draw(h), draw(*unused_shape), draw(), draw(h, scale=0.5)]
    horizon = 400
    uses_gain = rng.random(horizon) < 0.4
    uses_gain[0] = False
    uses_shift = rng.random(horizon) < 0.6
    uses_shift[0] = True

    def loss_at_step(params: list[torch.Tensor], step: int) -> torch.Tensor:
        W1, b1, W2, b2, w_out, _, gain, shift = params
        hidden = torch.tanh(torch.tanh(X @ W1 + b1) @ W2 + b2)  # (N, d) -> (N, h) -> (N, h)
        loss = ((hidden @ w_out - y) ** 2).mean()  # (N,)
        if uses_gain[step % horizon]:
            loss = loss + 0.1 * (gain * b1.sum() - 1.0) ** 2
        if uses_shift[step % horizon]:
            loss = loss + 0.1 * ((shift - b2) ** 2).sum()
        return loss_scale * loss

    return initial_values, loss_at_step


def random_bowl(rng: np.random.Generator, dim: int, curvatures: tuple[float, float], rotated: bool):
    """An ill-conditioned quadratic ``0.5 (x - c)^T H (x - c)``: returns ``(loss_fn, centre, start)``.

    The curvatures (eigenvalues of ``H``) are spaced logarithmically from ``curvatures[0]`` to
    ``curvatures[1]``; axis-aligned in a random order, or along random orthogonal directions if
    ``rotated``. The centre and the start (about 2 away per coordinate) are drawn from ``rng``.
    """
    generator = G.torch_generator(rng)
    eigenvalues = torch.logspace(math.log10(curvatures[0]), math.log10(curvatures[1]), dim, dtype=torch.float64)
    eigenvalues = eigenvalues[torch.randperm(dim, generator=generator)]
    centre = torch.randn(dim, generator=generator, dtype=torch.float64)
    start = centre + 2 * torch.randn(dim, generator=generator, dtype=torch.float64)
    if rotated:
        rotation, _ = torch.linalg.qr(torch.randn(dim, dim, generator=generator, dtype=torch.float64))
        hessian = rotation @ torch.diag(eigenvalues) @ rotation.T

        def loss_fn(point: torch.Tensor) -> torch.Tensor:
            return 0.5 * (point - centre) @ hessian @ (point - centre)
    else:
        def loss_fn(point: torch.Tensor) -> torch.Tensor:
            return 0.5 * (eigenvalues * (point - centre) ** 2).sum()

    return loss_fn, centre, start.tolist()


# ------------------------------------------------------------------ the oracle


def _library_folders() -> tuple[str, ...]:
    """Where installed code lives (PyTorch, the standard library, site-packages): code from anywhere else is the notebook's."""
    import sysconfig

    folders = {os.path.dirname(torch.__file__)}
    folders.update(sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib"))
    folders.update(p for p in sys.path if p.rstrip(os.sep).endswith(("site-packages", "dist-packages")))
    return tuple(os.path.join(os.path.realpath(f), "") for f in folders) + tuple(os.path.join(f, "") for f in folders)


def _installed(func: Any, folders: tuple[str, ...]) -> bool:
    """True when ``func`` (and every function it wraps) comes from installed code, not from the notebook."""
    while func is not None:
        code = getattr(func, "__code__", None)
        if code is not None and not (code.co_filename.startswith(folders)
                                     or os.path.realpath(code.co_filename).startswith(folders)):
            return False
        func = getattr(func, "__wrapped__", None)
    return True


def genuine_torch_optimizer(torch_class: Any) -> type:
    """``torch_class`` if it is PyTorch's own ``SGD`` or ``Adam``, untouched; otherwise fail saying what was changed."""
    name = getattr(torch_class, "__name__", repr(torch_class))
    module = sys.modules.get({"SGD": "torch.optim.sgd", "Adam": "torch.optim.adam"}.get(name, ""))
    folders = _library_folders()
    problem = None
    if module is None or not isinstance(torch_class, type) or getattr(module, name, None) is not torch_class:
        problem = f"torch.optim.{name} is not PyTorch's own class"
    else:
        core = sys.modules.get("torch.optim.optimizer")
        for klass in torch_class.__mro__[:-1]:
            for attr, value in vars(klass).items():
                funcs = [value.__func__] if isinstance(value, (staticmethod, classmethod)) else \
                    [f for f in (value.fget, value.fset) if f] if isinstance(value, property) else [value]
                if any(callable(f) and not _installed(f, folders) for f in funcs):
                    problem = f"{klass.__name__}.{attr} was replaced"
        for mod in (module, core):
            for attr, value in vars(mod).items():
                if inspect.isfunction(value) and not _installed(value, folders):
                    problem = f"{mod.__name__}.{attr} was replaced"
        for tensor_class in (torch.Tensor, torch._C.TensorBase):
            for attr, value in vars(tensor_class).items():
                if inspect.isfunction(value) and not _installed(value, folders):
                    problem = f"torch.Tensor.{attr} was replaced"
        if core is not None and (getattr(core, "_global_optimizer_pre_hooks", None) or
                                 getattr(core, "_global_optimizer_post_hooks", None)):
            problem = "a global optimizer hook was registered"
    if problem:
        raise AssertionError(f"the tests compare your optimiser with PyTorch's, but {problem} by code in this notebook; "
                             "remove that code (the tests need the real torch.optim).")
    return torch_class


def check_own_code(my_class: type) -> None:
    """S9: no method of the student's class (or of its notebook base class) is a course reference update with names changed.

    A verbatim copy of a reference function is refused by the guard when it runs; this catches
    edited copies too, by the structure of the code (:func:`course_utils.grading.check_not_copied`).
    """
    import course_utils.optim as reference_optim

    references = [inspect.unwrap(f) for f in (reference_optim.Optimizer.step, reference_optim.SGD.update,
                                              reference_optim.Adam.update)]
    folders = _library_folders()
    for klass in getattr(my_class, "__mro__", ())[:-1]:
        for attr, value in vars(klass).items():
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            funcs = [value.fget, value.fset] if isinstance(value, property) else [value]
            for func in funcs:
                func = inspect.unwrap(func) if inspect.isfunction(func) else None
                if func is None or _installed(func, folders):
                    continue
                for reference_func in references:
                    G.check_not_copied(func, reference_func, f"{my_class.__name__}: {klass.__name__}.{attr}")


# ------------------------------------------------------------------ running an optimiser


def _clear_gradients(params: Sequence[torch.Tensor], zero_in_place: bool) -> None:
    for p in params:
        if zero_in_place and p.grad is not None:
            p.grad.zero_()
        else:
            p.grad = None


def _snapshot_state(optimizer: Any, params: Sequence[torch.Tensor], names: dict[str, str] | None,
                    is_torch: bool) -> list[dict[str, Any]] | None:
    """The named state of every parameter after a step, under the notebook's names (copies)."""
    if names is None:
        return None
    snapshot = []
    for i, p in enumerate(params):
        if is_torch:
            state = optimizer.state.get(p, {})
            entries = {ours: state[theirs] for ours, theirs in names.items() if theirs in state}
        else:
            try:
                state = optimizer.state[i]
                keys = list(state.keys())
                entries = {key: state[key] for key in keys if key in names}
            except Exception as err:  # a message the student can act on, not a KeyError from deep inside
                raise AssertionError(f"could not read self.state[{i}] of your optimiser ({type(err).__name__}: {err}); "
                                     "self.state must be a list with one dict per parameter") from None
            entries["..."] = len(keys)  # how many keys the dict holds, to tell an empty state from a full one
        snapshot.append({key: value.detach().clone() if isinstance(value, torch.Tensor) else value
                         for key, value in entries.items()})
    return snapshot


def _set_hyperparameter(optimizer: Any, name: str, value: Any, is_torch: bool) -> None:
    if is_torch:
        optimizer.param_groups[0][name] = value
    else:
        setattr(optimizer, name, value)


class _Run:
    """What one run of an optimiser produced: the parameters before and after every step, and its state."""

    def __init__(self) -> None:
        self.path: list[list[torch.Tensor]] = []
        self.states: list[list[dict[str, Any]] | None] = [None]
        self.zero_in_place = False  # set when the student's zero_grad zeroes gradients instead of dropping them


def _run_steps(make_optimizer: Callable, initial_values: Sequence[torch.Tensor], loss_at_step: Callable, steps: int, *,
               zero_in_place: bool = False, changes: dict[int, dict[str, Any]] | None = None,
               use_zero_grad: bool = False, state_names: dict[str, str] | None = None, is_torch: bool = False,
               check_grads: bool = False, label: str = "your optimiser") -> _Run:
    """Run ``steps`` steps; the student's runs go through the guard as one call (``is_torch=False``)."""
    params = [value.detach().clone().requires_grad_() for value in initial_values]
    run = _Run()
    run.path.append([p.detach().clone() for p in params])
    dtypes = [p.dtype for p in params]

    def loop() -> None:
        optimizer = make_optimizer(params)
        for step in range(steps):
            for name, value in (changes or {}).get(step, {}).items():
                _set_hyperparameter(optimizer, name, value, is_torch)
            if use_zero_grad:
                if is_torch:
                    optimizer.zero_grad(set_to_none=not zero_in_place)
                else:
                    had_grad = [p.grad is not None for p in params]
                    optimizer.zero_grad()
                    invented = [i for i, p in enumerate(params) if p.grad is not None and not had_grad[i]]
                    if invented:
                        raise AssertionError(f"zero_grad() gave params[{invented[0]}] a gradient (zeros) although it had "
                                             "none; set every .grad to None (a zero gradient would still be applied)")
                    leftover = [i for i, p in enumerate(params) if p.grad is not None and bool(p.grad.any())]
                    if leftover:
                        raise AssertionError(f"after zero_grad(), params[{leftover[0]}].grad still holds the previous "
                                             "gradient; zero_grad must clear every parameter's .grad")
                    if step > 0 and any(p.grad is not None for p in params):
                        run.zero_in_place = True
            else:
                _clear_gradients(params, zero_in_place)
            loss_at_step(params, step).backward()
            grads_before = [None if p.grad is None else p.grad.clone() for p in params]
            optimizer.step()
            if check_grads:
                for i, (p, before) in enumerate(zip(params, grads_before)):
                    if before is not None and (p.grad is None or not torch.equal(p.grad, before)):
                        raise AssertionError(
                            f"step {step + 1} changed params[{i}].grad; leave p.grad as it is and compute new tensors "
                            "(grad = p.grad + weight_decay * p), and keep copies (.clone()) in your state")
                    if not (p.requires_grad and p.grad_fn is None) or p.dtype != dtypes[i]:
                        raise AssertionError(
                            f"after step {step + 1}, params[{i}] is no longer a {dtypes[i]} leaf tensor that requires "
                            "grad; update it in place under torch.no_grad() (p.sub_(...)), without changing its dtype")
            run.path.append([p.detach().clone() for p in params])
            run.states.append(_snapshot_state(optimizer, params, state_names, is_torch))

    if is_torch:
        loop()
    else:
        loop.__name__ = label
        G.call_student(loop, limits=optimizer_limits())
    return run


def optimizer_trajectory(make_optimizer: Callable, initial_values: Sequence[torch.Tensor], loss_at_step: Callable,
                         steps: int, graded: bool = False, zero_in_place: bool = False) -> list[list[torch.Tensor]]:
    """The parameters before the first step and after each of ``steps`` steps: a list of lists of tensors.

    ``make_optimizer(params)`` builds the optimiser on fresh copies of ``initial_values``. Before
    every step the gradients are cleared (set to None; zeroed in place if ``zero_in_place``, like
    torch's ``zero_grad(set_to_none=False)``), then the loss is backpropagated. With
    ``graded=True`` the run goes through the grader's guard (:func:`call_graded`'s limits), and
    ``step()`` must leave every ``p.grad`` as it found it.
    """
    return _run_steps(make_optimizer, initial_values, loss_at_step, steps, zero_in_place=zero_in_place,
                      is_torch=not graded, check_grads=graded).path


# ------------------------------------------------------------------ comparisons


def _tolerances(dtype: torch.dtype) -> tuple[float, float]:
    """(rtol, atol) for comparing with torch: rounding differences only, amplified a little over the steps."""
    return (1e-9, 1e-11) if dtype == torch.float64 else (1e-3, 1e-5)


def check_same_trajectory(student_path: list[list[torch.Tensor]], torch_path: list[list[torch.Tensor]], what: str,
                          rtol: float = 1e-9, atol: float = 1e-11, student_states: list | None = None,
                          torch_states: list | None = None) -> None:
    """Fail at the first step where the parameters (or the recorded state) differ from torch's, naming both."""
    for step in range(1, len(torch_path)):
        for i, (mine, theirs) in enumerate(zip(student_path[step], torch_path[step])):
            if mine.shape == theirs.shape and torch.allclose(mine, theirs, rtol=rtol, atol=atol):
                continue
            mine_moved = not torch.equal(mine, student_path[step - 1][i])
            theirs_moved = not torch.equal(theirs, torch_path[step - 1][i])
            if theirs_moved and not mine_moved:
                raise AssertionError(f"{what}: step {step} did not change params[{i}], torch.optim did. Update the "
                                     "tensor in place (p -= ..., p.sub_(...)); p = p - ... only rebinds a name.")
            if mine_moved and not theirs_moved:
                raise AssertionError(f"{what}: step {step} changed params[{i}], which torch.optim left alone: "
                                     "it had no gradient (p.grad is None), so skip it.")
            G.check_close(mine, theirs, name=f"{what}: params[{i}] after step {step}", rtol=rtol, atol=atol)
        if student_states is not None and torch_states is not None and torch_states[step] is not None:
            _check_same_state(student_states[step], torch_states[step], step, what, rtol, atol)


def _check_same_state(mine: list[dict], theirs: list[dict], step: int, what: str, rtol: float, atol: float) -> None:
    for i, (own, expected) in enumerate(zip(mine, theirs)):
        if not expected:  # torch has no state for a parameter that never had a gradient
            G.check_true(own["..."] == 0,
                         f"{what}: after step {step}, self.state[{i}] holds {own['...']} entries, but params[{i}] has not "
                         "had a gradient yet; create a parameter's state on the first step in which it has one")
            continue
        for key, value in expected.items():
            G.check_true(key in own, f"{what}: after step {step}, self.state[{i}] has no {key!r}; keep it there "
                                     f"(self.state[{i}][{key!r}])")
            if key == "t":
                try:
                    count = float(own[key])
                except (TypeError, ValueError):
                    raise AssertionError(f"{what}: self.state[{i}]['t'] should be a number, got {own[key]!r}") from None
                G.check_true(count == float(value),
                             f"{what}: after step {step}, self.state[{i}]['t'] is {own[key]}, but params[{i}] has been "
                             f"updated {int(value)} times; count the steps of each parameter separately")
            else:
                G.check_true(isinstance(own[key], torch.Tensor) and own[key].shape == value.shape,
                             f"{what}: self.state[{i}][{key!r}] should be a tensor shaped like params[{i}] "
                             f"{tuple(value.shape)}")
                G.check_close(own[key], value, name=f"{what}: self.state[{i}][{key!r}] after step {step}",
                              rtol=rtol, atol=atol)


def _state_names(torch_class: type, hyperparameters: dict) -> dict[str, str] | None:
    if torch_class.__name__ == "Adam":
        return ADAM_STATE
    if hyperparameters.get("momentum", 0):
        return MOMENTUM_STATE
    return None


def check_against_torch(my_class: type, torch_class: type, hyperparameters: dict, problem: Problem, steps: int = 50,
                        zero_in_place: bool = False, changes: dict[int, dict[str, Any]] | None = None,
                        use_zero_grad: bool = False) -> None:
    """Run your optimiser (graded) and torch's on ``problem`` and require the same parameters and state after every step.

    ``changes``: hyperparameters set on both optimisers before a step, ``{step: {"lr": 0.01}}`` (on
    yours as attributes, on torch's in ``param_groups[0]``). ``use_zero_grad``: clear the gradients
    with your ``zero_grad()`` (and torch's) instead of setting them to None.
    """
    torch_class = genuine_torch_optimizer(torch_class)
    initial_values, loss_at_step = problem
    names = _state_names(torch_class, hyperparameters)
    label = f"your {getattr(my_class, '__name__', 'optimiser')}"
    mine = _run_steps(lambda params: my_class(params, **hyperparameters), initial_values, loss_at_step, steps,
                      zero_in_place=zero_in_place, changes=changes, use_zero_grad=use_zero_grad, state_names=names,
                      check_grads=True, label=label)
    theirs = _run_steps(lambda params: torch_class(params, **hyperparameters), initial_values, loss_at_step, steps,
                        zero_in_place=mine.zero_in_place if use_zero_grad else zero_in_place, changes=changes,
                        use_zero_grad=use_zero_grad, state_names=names, is_torch=True)
    rtol, atol = _tolerances(initial_values[0].dtype)
    what = f"{getattr(my_class, '__name__', my_class)}({_describe(hyperparameters)}) vs torch.optim.{torch_class.__name__}"
    if changes:
        what += f" with {_describe_changes(changes)}"
    if use_zero_grad:
        what += " (gradients cleared by your zero_grad())"
    elif zero_in_place:
        what += " (gradients zeroed in place)"
    check_same_trajectory(mine.path, theirs.path, what, rtol, atol, mine.states, theirs.states)


def _describe(hyperparameters: dict) -> str:
    def short(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4g}"
        if isinstance(value, tuple):
            return "(" + ", ".join(short(v) for v in value) + ")"
        return repr(value)

    return ", ".join(f"{key}={short(value)}" for key, value in hyperparameters.items())


def _describe_changes(changes: dict[int, dict[str, Any]]) -> str:
    return "; ".join(f"{_describe(values)} set before step {step + 1}" for step, values in sorted(changes.items()))


def check_separate_optimizers(my_class: type, torch_class: type, hyperparameters: Sequence[dict],
                              problems: Sequence[Problem], steps: int) -> None:
    """Optimisers on different tensors keep separate state: the first two step in turn, a third starts after them.

    Each must end where torch's optimiser with its own hyperparameters ends on its own problem.
    """
    torch_class = genuine_torch_optimizer(torch_class)
    params = [[value.detach().clone().requires_grad_() for value in problem[0]] for problem in problems]
    finals: list[list[torch.Tensor]] = []

    def loop() -> None:
        optimizers = [my_class(params[k], **hyperparameters[k]) for k in range(2)]
        for step in range(steps):
            for k in range(2):
                _clear_gradients(params[k], False)
                problems[k][1](params[k], step).backward()
            for optimizer in optimizers:
                optimizer.step()
        third = my_class(params[2], **hyperparameters[2])  # created after the others have state
        for step in range(steps):
            _clear_gradients(params[2], False)
            problems[2][1](params[2], step).backward()
            third.step()

    loop.__name__ = f"your {getattr(my_class, '__name__', 'optimiser')}"
    G.call_student(loop, limits=optimizer_limits())
    for k, label in enumerate(("first", "second", "third (created after the other two had stepped)")):
        expected = _run_steps(lambda ps: torch_class(ps, **hyperparameters[k]), problems[k][0], problems[k][1], steps,
                              is_torch=True).path[-1]
        rtol, atol = _tolerances(problems[k][0][0].dtype)
        for i, (mine, theirs) in enumerate(zip(params[k], expected)):
            G.check_close(mine.detach(), theirs, rtol=rtol, atol=atol,
                          name=f"three {getattr(my_class, '__name__', '')} optimisers on different tensors: params[{i}] of "
                               f"the {label} after {steps} steps (each optimiser object needs its own state; nothing "
                               "may be shared between objects or kept in the class)")


def compare_with_torch(my_class: type, torch_class: type, steps: int = 50, seed: int = 0, **hyperparameters: Any) -> float:
    """Print and return the largest difference between your optimiser and torch's on ``tanh_regression``."""
    initial_values, loss_at_step = tanh_regression(seed, extra_params=True)
    mine = optimizer_trajectory(lambda params: my_class(params, **hyperparameters), initial_values, loss_at_step, steps)
    theirs = optimizer_trajectory(lambda params: torch_class(params, **hyperparameters), initial_values,
                                  loss_at_step, steps)
    largest = max(float(torch.nan_to_num((a - b).abs(), nan=math.inf).max())
                  for row_mine, row_theirs in zip(mine, theirs) for a, b in zip(row_mine, row_theirs))
    print(f"{my_class.__name__} vs torch.optim.{torch_class.__name__} {hyperparameters}: "
          f"largest difference over {steps} steps {largest:.2e}")
    return largest


def minimise(make_optimizer: Callable, loss_fn: Callable[[torch.Tensor], torch.Tensor], start: Sequence[float],
             steps: int, max_loss: float = 1e10, graded: bool = False) -> tuple[list[float], torch.Tensor]:
    """Minimise ``loss_fn(point)`` from ``start`` with ``make_optimizer([point])``; return ``(losses, final point)``.

    ``losses[k]`` is the loss before step k. A run whose loss exceeds ``max_loss`` (or is not
    finite) has diverged: it stops there, so its list is shorter than ``steps``. With
    ``graded=True`` the run goes through the grader's guard.
    """
    point = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    losses: list[float] = []

    def loop() -> None:
        optimizer = make_optimizer([point])
        for _ in range(steps):
            point.grad = None  # cleared here, so that this helper does not depend on your zero_grad
            loss = loss_fn(point)
            losses.append(loss.item())
            if not losses[-1] <= max_loss:
                break
            loss.backward()
            optimizer.step()

    if graded:
        loop.__name__ = "your optimiser (in minimise)"
        G.call_student(loop, limits=optimizer_limits())
    else:
        loop()
    return losses, point.detach()


# ------------------------------------------------------------------ Optimizer and zero_grad


def check_optimizer_fields(optimizer_class: type, rng: np.random.Generator | None = None) -> None:
    """Z1: the very tensors in ``self.params`` (from a list or a generator), ``self.lr``, one empty dict each in ``self.state``."""
    generator = G.torch_generator(rng) if rng is not None else torch.Generator().manual_seed(0)
    count = int(rng.integers(2, 5)) if rng is not None else 3
    tensors = [torch.randn(tuple(int(k) for k in torch.randint(1, 4, (j % 3,), generator=generator)), generator=generator,
                           dtype=torch.float64).requires_grad_() for j in range(count)]
    lr = float(rng.uniform(0.001, 0.5)) if rng is not None else 0.1
    for source, how in ((list(tensors), "a list"), ((t for t in tensors), "a generator (like model.parameters())")):
        optimizer = call_graded(optimizer_class, source, lr)
        params, state, got_lr = call_graded(lambda: (optimizer.params, optimizer.state, optimizer.lr))
        G.check_true(len(params) == count and all(a is b for a, b in zip(params, tensors)),
                     f"Optimizer(params, lr) built from {how}: self.params must be a list of the very tensors it was "
                     "given (not copies), in order")
        G.check_true(got_lr == lr, f"Optimizer(params, lr={lr}): self.lr is {got_lr}")
        G.check_true(len(state) == count and all(s == {} for s in state) and len({id(s) for s in state}) == count,
                     "Optimizer(params, lr): self.state must hold one separate empty dict per parameter")
    for bad_args, why in ((([], lr), "an empty parameter list"), ((list(tensors), -lr), "a negative learning rate")):
        try:
            call_graded(optimizer_class, *bad_args)
        except ValueError:
            continue
        raise AssertionError(f"Optimizer(...) with {why} must raise ValueError")


def check_zero_grad(optimizer_class: type, rng: np.random.Generator) -> None:
    """Z2-Z4: ``zero_grad`` clears every gradient of its own parameters, and nothing else."""
    generator = G.torch_generator(rng)
    count = int(rng.integers(3, 6))
    dtypes = [torch.float64 if rng.random() < 0.5 else torch.float32 for _ in range(count)]
    tensors = [torch.randn(int(rng.integers(1, 5)), int(rng.integers(1, 4)), generator=generator,
                           dtype=dtype).requires_grad_() for dtype in dtypes]
    others = [torch.randn(3, generator=generator, dtype=torch.float64).requires_grad_() for _ in range(2)]
    optimizer = call_graded(optimizer_class, tensors, float(rng.uniform(0.01, 0.5)))
    other_optimizer = call_graded(optimizer_class, others, 0.1)
    call_graded(optimizer.zero_grad)  # before any backward pass every .grad is None: this must not fail
    values = [t.detach().clone() for t in tensors]
    with_grad = sorted(rng.choice(count, size=int(rng.integers(1, count)), replace=False).tolist())  # the rest stay None
    sum(tensors[k].to(torch.float64).sin().sum() for k in with_grad).backward()
    (others[0] * others[1]).sum().backward()
    other_grads = [o.grad.clone() for o in others]
    marker = torch.ones(2)
    state = call_graded(lambda: optimizer.state)
    state[with_grad[0]]["velocity"] = marker  # state an optimiser might hold: zero_grad must leave it alone
    for _ in range(int(rng.integers(1, 3))):  # once or twice in a row
        call_graded(optimizer.zero_grad)
    for k, t in enumerate(tensors):
        G.check_true(t.grad is None or not bool(t.grad.any()),
                     f"after zero_grad(), params[{k}].grad still holds an old gradient; set it to None")
        G.check_true(k in with_grad or t.grad is None,
                     f"zero_grad() gave params[{k}] a gradient although it had none; set every .grad to None")
        G.check_true(t.requires_grad and t.dtype == dtypes[k] and torch.equal(t.detach(), values[k]),
                     f"zero_grad() changed params[{k}]; it must only clear the gradients")
    G.check_true(call_graded(lambda: optimizer.state[with_grad[0]].get("velocity")) is marker,
                 "zero_grad() changed self.state; it must only clear the gradients (the state, such as a velocity, "
                 "must survive it)")
    for k, o in enumerate(others):
        G.check_true(o.grad is not None and torch.equal(o.grad, other_grads[k]),
                     "zero_grad() of one optimiser cleared the gradients of another optimiser's parameters; "
                     "clear only self.params")
    target = tensors[with_grad[-1]]
    (target.to(torch.float64) ** 2).sum().backward()
    G.check_close(target.grad, 2 * target.detach(), rtol=1e-6,
                  name=f"params[{with_grad[-1]}].grad after zero_grad() and a new backward pass (nothing may be left "
                       "of the previous one)")


# ------------------------------------------------------------------ Adam by hand


def check_adam_hand_steps(adam_class: type, rng: np.random.Generator, steps: int = 5) -> None:
    """A1: Adam on one tensor with gradients set by hand, of very different sizes, against torch; one step has no gradient."""
    torch_adam = genuine_torch_optimizer(torch.optim.Adam)
    generator = G.torch_generator(rng)
    shape = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    start = torch.randn(*shape, generator=generator, dtype=torch.float64)
    grads = [torch.randn(*shape, generator=generator, dtype=torch.float64) * 10.0 ** float(rng.uniform(-4, 3))
             for _ in range(steps)]
    skipped = int(rng.integers(1, steps))  # no gradient on this step
    hyper = dict(lr=float(10 ** rng.uniform(-3, -1)), betas=(float(rng.uniform(0.3, 0.95)), float(rng.uniform(0.8, 0.999))),
                 eps=float(10 ** rng.uniform(-8, -2)))

    def run(optimizer_class: type) -> list[torch.Tensor]:
        param = start.clone().requires_grad_()
        optimizer = optimizer_class([param], **hyper)
        values = []
        for k, grad in enumerate(grads):
            param.grad = None if k == skipped else grad.clone()
            optimizer.step()
            values.append(param.detach().clone())
        return values

    expected = run(torch_adam)
    mine: list[torch.Tensor] = []

    def graded() -> None:
        mine.extend(run(adam_class))

    graded.__name__ = "your Adam"
    G.call_student(graded, limits=optimizer_limits())
    for k, (value, reference_value) in enumerate(zip(mine, expected)):
        G.check_close(value, reference_value, rtol=1e-9, atol=1e-12,
                      name=f"Adam({_describe(hyper)}): p after step {k + 1} with gradients set by hand "
                           f"(sizes from 1e-4 to 1e3; no gradient on step {skipped + 1})")
