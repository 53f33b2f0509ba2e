"""Helpers that assignment tests call.

Two jobs:

* comparisons that fail with a message a student can act on
  ("softmax: row 3 sums to 1.7, expected 1"), never a bare ``AssertionError``;
* a guard: while a student's function runs under :func:`call_student`, every
  function marked with :func:`reference` refuses to run, so importing the
  reference implementation from ``course_utils`` earns nothing; and whatever
  the student's function changes in the ``course_utils`` modules (a patched
  ``check_close``, a swapped reference) is undone when it returns.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import sys
from typing import Any, Callable, Iterator

import numpy as np

_blocked_depth = 0


class ReferenceBlockedError(RuntimeError):
    """Raised when graded code calls a reference implementation."""


def reference(func: Callable) -> Callable:
    """Mark ``func`` as a reference implementation that graded code may not call."""

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if _blocked_depth > 0:
            raise ReferenceBlockedError(
                f"{func.__module__}.{func.__qualname__} is the course's reference "
                "implementation and is switched off while your code is graded; "
                "write this part yourself."
            )
        return func(*args, **kwargs)

    guarded.__course_reference__ = True
    return guarded


@contextlib.contextmanager
def reference_blocked() -> Iterator[None]:
    """Inside this block every :func:`reference` function raises."""
    global _blocked_depth
    _blocked_depth += 1
    try:
        yield
    finally:
        _blocked_depth -= 1


@contextlib.contextmanager
def _course_modules_restored() -> Iterator[None]:
    """Undo changes to the ``course_utils`` modules' names made inside this block."""
    modules = {name: m for name, m in list(sys.modules.items()) if name.split(".")[0] == "course_utils" and m is not None}
    saved = {name: dict(vars(module)) for name, module in modules.items()}
    try:
        yield
    finally:
        for name, module in modules.items():
            sys.modules[name] = module
            namespace = vars(module)
            for key, value in saved[name].items():
                if key not in namespace or namespace[key] is not value:
                    namespace[key] = value
            for key in set(namespace) - set(saved[name]):
                if hasattr(builtins, key):  # a new global that would shadow a builtin inside the module
                    del namespace[key]


def call_student(func: Callable, *args: Any, **kwargs: Any) -> Any:
    """Call a student's function with the reference implementations blocked."""
    if not callable(func):
        raise AssertionError(f"expected a function, got {type(func).__name__}: {func!r}")
    name = getattr(func, "__name__", "your function")
    if getattr(func, "__course_reference__", False):
        raise AssertionError(
            f"{name} is the course's reference implementation, not your own code; "
            "implement it in the solution cell."
        )
    with reference_blocked(), _course_modules_restored():
        try:
            return func(*args, **kwargs)
        except NotImplementedError:
            raise AssertionError(f"{name} is not implemented yet (it raised NotImplementedError)") from None
        except ReferenceBlockedError as err:
            raise AssertionError(str(err)) from None


def _as_array(value: Any, name: str) -> np.ndarray:
    if value is None:
        raise AssertionError(f"{name} is None; did you forget a `return`?")
    if hasattr(value, "detach"):  # torch tensor
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise AssertionError(f"{name} should be numeric array-like, got {type(value).__name__}") from None
    return array


def check_shape(value: Any, shape: tuple[int, ...], name: str = "result") -> None:
    """Fail unless ``value`` has exactly ``shape``."""
    actual = tuple(_as_array(value, name).shape)
    if actual != tuple(shape):
        raise AssertionError(f"{name} has shape {actual}, expected {tuple(shape)}")


def check_finite(value: Any, name: str = "result") -> None:
    """Fail on NaN or infinity, naming the first bad entry."""
    array = _as_array(value, name)
    bad = np.argwhere(~np.isfinite(array))
    if len(bad):
        index = tuple(int(i) for i in bad[0])
        raise AssertionError(
            f"{name} contains {array[index]} at index {index} ({len(bad)} non-finite entries); "
            "look for overflow in exp or log of 0"
        )


def check_close(
    actual: Any,
    expected: Any,
    name: str = "result",
    rtol: float = 1e-5,
    atol: float = 1e-8,
) -> None:
    """Fail unless ``actual`` matches ``expected`` in shape and value, naming the worst entry."""
    actual_arr = _as_array(actual, name)
    expected_arr = _as_array(expected, "expected value")
    if actual_arr.shape != expected_arr.shape:
        raise AssertionError(f"{name} has shape {actual_arr.shape}, expected {expected_arr.shape}")
    check_finite(actual_arr, name)
    diff = np.abs(actual_arr - expected_arr)
    tolerance = atol + rtol * np.abs(expected_arr)
    if np.all(diff <= tolerance):
        return
    worst = np.unravel_index(np.argmax(diff - tolerance), diff.shape) if diff.ndim else ()
    where = f" at index {tuple(int(i) for i in worst)}" if diff.ndim else ""
    n_bad = int(np.sum(diff > tolerance))
    raise AssertionError(
        f"{name}{where} is {actual_arr[worst]:.6g}, expected {expected_arr[worst]:.6g} "
        f"({n_bad} of {diff.size} entries differ; largest error {diff.max():.3g})"
    )


def check_true(condition: bool, message: str) -> None:
    """Fail with ``message`` unless ``condition`` holds."""
    if not condition:
        raise AssertionError(message)


def check_at_least(value: float, threshold: float, name: str) -> None:
    """Fail unless ``value >= threshold``, saying by how much it fell short."""
    value = float(value)
    if not value >= threshold:
        raise AssertionError(f"{name} is {value:.4g}; it must be at least {threshold:.4g}")


def numerical_gradient(f: Callable[[], float], array: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central finite differences of the scalar ``f()`` with respect to ``array`` (changed in place, then restored)."""
    grad = np.zeros_like(array, dtype=float)
    for index in np.ndindex(array.shape):
        original = array[index]
        array[index] = original + eps
        plus = f()
        array[index] = original - eps
        minus = f()
        array[index] = original
        grad[index] = (plus - minus) / (2 * eps)
    return grad
