"""Helpers that assignment tests call.

Three jobs:

* comparisons that fail with a message a student can act on
  ("softmax: row 3 sums to 1.7, expected 1"), never a bare ``AssertionError``;
* a guard around a student's function (:func:`call_student`). While it runs, a
  profiler watches every Python and C function call. The call fails afterwards,
  naming what was used, if the function ran

  - code marked with :func:`reference` (the course's reference implementations),
    or a copy of such code made from its bytecode;
  - code the task's :class:`Limits` forbid (a module such as ``torch.optim``,
    a function such as ``torch.nn.LSTMCell``, file reading), whatever name the
    student imported it under;
  - something that attacks the guard itself (``sys.setprofile``, ``ctypes``,
    ``gc`` walks, threads);

  and whatever it changed in the ``course_utils`` modules and in the libraries the
  checks use (NumPy, PyTorch, builtins) is put back. :func:`construct_student` builds a
  student's network the same way and also fails if any of its modules was not created by
  that call (a copy of a network built earlier, outside the guard). The
  guard keeps its state in the call's own closure: there is no module-level
  switch a student's function could reset, and reference functions are not
  wrapped, so there is no unguarded ``__wrapped__`` alias;
* fresh random cases: :func:`fresh_rng` draws a seed from the operating system
  at grading time and prints it, so a hidden test's source says what is
  checked but never the answer.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import difflib
import fnmatch
import importlib.util
import inspect
import linecache
import os
import re
import secrets
import sys
import textwrap
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

# The last constant of every code object marked by @reference. A string, so it survives reloads of this module.
REFERENCE_MARK = "course_utils.grading: reference implementation"
# Reference functions at least this long (bytecode bytes) are also recognised when copied into a cell. Shorter ones
# (one-liners such as relu_grad or multistep_lr) are what an honest student writes too, byte for byte. Code that no
# source explains (run by exec from a string, or rebuilt) is recognised at any size.
MIN_COPY_BYTES = 120
# ... and code made at run time from at least this much bytecode: more than `return x` or `return self.x`.
MIN_LOOSE_COPY_BYTES = 24


def _copy_signature(code) -> tuple:
    """What a copy made from a code object keeps: bytecode, names, local names and line table (columns included).

    Bytecode and names alone match honest code: ``sum(1 for m in milestones if epoch >= m)`` compiles to the
    reference's bytes, and so does any NumPy one-liner once ``import numpy as np`` sits in the same cell.
    """
    return code.co_code, code.co_names, code.co_varnames, code.co_linetable


def _loose_copy_signature(code) -> tuple:
    """What survives renaming the local variables, moving or re-indenting the lines: bytecode and global/attribute names.

    Honest code can share it (a formula the instructions dictate, written with other names), so a match counts only
    for code that no source explains: see :func:`_source_reproduces`.
    """
    return code.co_code, code.co_names


def _source_reproduces(code) -> bool:
    """Whether the source recorded for ``code`` (its file, as IPython records every cell) compiles to it, at its line.

    Code written in a cell or a file always does. A code object rebuilt at run time (``code.replace`` with other local
    names, an empty line table or a made-up file name) or compiled from a string by ``exec`` does not. The whole
    cell is compiled, as IPython compiled it: the bytecode of ``np.f(...)`` depends on whether ``import numpy as np``
    sits in the same cell.
    """
    lines = linecache.getlines(code.co_filename)
    if not lines or not 1 <= code.co_firstlineno <= len(lines):
        return False
    try:
        compiled = compile("".join(lines), code.co_filename, "exec")
    except (SyntaxError, ValueError):
        return False
    return any(inner.co_code == code.co_code and inner.co_firstlineno == code.co_firstlineno
               for inner in _code_tree(compiled))


class ReferenceBlockedError(RuntimeError):
    """Kept for code that catches it; the guard now reports through AssertionError."""


def _qualname(code) -> str:
    return getattr(code, "co_qualname", code.co_name)  # co_qualname is new in Python 3.11


def _mark(code):
    if code.co_consts and code.co_consts[-1] == REFERENCE_MARK:
        return code
    return code.replace(co_consts=code.co_consts + (REFERENCE_MARK,))


def _own_function(func: Any) -> Any:
    """The function a decorator wrapped (``functools.wraps`` chains), not the decorator's shared wrapper code.

    ``torch.no_grad()`` and similar decorators wrap every function with the same code object; marking that
    code would make every other user of the decorator look like the reference.
    """
    func = inspect.unwrap(func)
    return func if inspect.isfunction(func) else None


def _functions_of(obj: Any) -> list:
    """The plain functions behind ``obj``: itself, or every method, static/class method and property of a class.

    Decorated functions count through the function they wrap (see ``_own_function``).
    """
    if inspect.isclass(obj):
        values = []
        for value in vars(obj).values():
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            if isinstance(value, property):
                values += [f for f in (value.fget, value.fset, value.fdel) if f is not None]
            else:
                values.append(value)
        found = [_own_function(v) for v in values if callable(v) and not inspect.isclass(v)]
        return [f for f in found if f is not None]
    own = _own_function(obj) if callable(obj) else None
    return [own] if own is not None else []


def reference(obj: Any) -> Any:
    """Mark a function or class as a reference implementation that graded code may not run.

    The object is returned unchanged apart from a marker in its code objects: outside grading it runs at
    full speed, and no wrapper exists whose ``__wrapped__`` would reach an unmarked original.
    """
    for func in _functions_of(obj):
        func.__code__ = _mark(func.__code__)
    return obj


def is_reference(obj: Any) -> bool:
    """True when ``obj`` (a function or class) is marked as a reference implementation."""
    return any(f.__code__.co_consts[-1:] == (REFERENCE_MARK,) for f in _functions_of(obj))


@dataclass(frozen=True)
class Limits:
    """What a graded function may not use while it runs; declared once per task in the assignment's checks module.

    ``modules``: packages or modules none of whose code may run (``"torch"``, ``"torch.optim"``,
    ``"sklearn.metrics"``). ``functions``: dotted names of functions or classes, or patterns of C
    functions (``"torch.nn.LSTMCell"``, ``"torch._fused_*"``). ``no_files``: no reading of files
    (``open``, ``np.load``, ``torch.load``, pickle): the data arrive as arguments. ``rule``: the
    instruction as the notebook states it, repeated in the failure message.
    """

    modules: tuple[str, ...] = ()
    functions: tuple[str, ...] = ()
    no_files: bool = False
    rule: str = ""
    # grade_ids of the answer cells whose code these limits govern: the instructors' audit reads only those
    # cells for them (empty: every cell). The run-time guard does not need it: it watches the call itself.
    cells: tuple[str, ...] = ()

    def __add__(self, other: "Limits") -> "Limits":
        rules = " ".join(r for r in (self.rule, other.rule) if r)
        cells = () if not (self.cells and other.cells) else tuple(dict.fromkeys(self.cells + other.cells))
        return Limits(self.modules + other.modules, self.functions + other.functions,
                      self.no_files or other.no_files, rules, cells)


NO_LIMITS = Limits()

# Calls that read files, when a task forbids it (C functions by qualified name; Python functions by dotted name).
FILE_READERS = ("io.open", "_io.open", "builtins.open", "posix.open", "nt.open", "_pickle.load", "_pickle.loads",
                "numpy.fromfile", "numpy.load", "numpy.loadtxt", "numpy.genfromtxt", "torch.load", "pickle.load",
                "pickle.loads", "pathlib.Path.read_bytes", "pathlib.Path.read_text", "pathlib.Path.open",
                "torchvision.datasets", "course_utils.data.load_mnist", "course_utils.data.mnist_tensors")
# What no graded function may do: switch the profiler off, reach raw memory, walk the garbage collector, start threads.
TAMPERING = ("sys.setprofile", "sys.settrace", "sys.getprofile", "sys.gettrace", "threading.setprofile",
             "threading.settrace", "threading.setprofile_all_threads", "threading.settrace_all_threads",
             "gc.get_objects", "gc.get_referrers", "gc.get_referents", "_thread.start_new_thread",
             "_thread.start_joinable_thread", "_thread.start_new", "sys.monitoring.*", "ctypes", "_ctypes.*",
             "_posixsubprocess.fork_exec", "posix.fork", "os.fork", "posix.system", "posix.execv", "posix.execve")
TAMPER_MODULES = ("ctypes",)


def _module_path(name: str) -> tuple[str, ...]:
    """File-name prefixes of a module's code: its folder for a package, its file otherwise ('' if not installed)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return ()
    if spec is None or not spec.origin or spec.origin in ("built-in", "frozen"):
        return ()
    if spec.submodule_search_locations:
        return tuple(os.path.join(os.path.realpath(p), "") for p in spec.submodule_search_locations) + \
            tuple(os.path.join(p, "") for p in spec.submodule_search_locations)
    return (os.path.realpath(spec.origin), spec.origin)


def _resolve(dotted: str) -> Any:
    """The object a dotted name refers to (``torch.nn.LSTMCell``), or None."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def _c_name(func: Any) -> str:
    """``module.name`` of a C function or method as the profiler reports it (``torch._foreach_add_``, ``torch.Tensor.sum``)."""
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None) or getattr(func, "__name__", "?")
    if module is None:
        owner = getattr(func, "__self__", None)
        owner_type = owner if isinstance(owner, type) else type(owner)
        module = getattr(owner_type, "__module__", None) or "?"
        if isinstance(owner, type(sys)):
            module = owner.__name__
    if qualname.startswith("_VariableFunctionsClass."):
        qualname = qualname.split(".", 1)[1]
    return f"{module}.{qualname}"


class _Rules:
    """The compiled form of one call's limits: file prefixes, code objects and C-name patterns to flag."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.prefixes: list[tuple[str, str]] = []  # (file prefix, what to report)
        self.codes: dict[int, tuple[Any, str]] = {}  # id(code) -> (code, what to report)
        patterns: list[tuple[str, str]] = []
        forbidden = [(m, "module") for m in limits.modules] + [(f, "function") for f in limits.functions]
        if limits.no_files:
            forbidden += [(f, "file") for f in FILE_READERS]
        forbidden += [(t, "tamper") for t in TAMPERING]
        for name, kind in forbidden:
            label = {"file": f"{name} (reading files)", "tamper": f"{name} (it interferes with the grader)"}.get(kind, name)
            if kind == "module" or (kind in ("file", "tamper") and "." not in name.rstrip(".*")):
                for prefix in _module_path(name):
                    self.prefixes.append((prefix, label))
                patterns.append((name + ".*", label))
                continue
            if "*" not in name:
                obj = _resolve(name)
                for func in _functions_of(obj) if obj is not None else []:
                    func = inspect.unwrap(func)  # a decorator's wrapper code is shared by every function it decorates
                    self.codes[id(func.__code__)] = (func.__code__, label)
                if inspect.ismodule(obj):
                    for prefix in _module_path(name):
                        self.prefixes.append((prefix, label))
                    patterns.append((name + ".*", label))
            patterns.append((name, label))
        self.c_patterns = patterns
        self.c_regex = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p, _ in patterns)) if patterns else None
        self.prefix_tuple = tuple(p for p, _ in self.prefixes)
        for name in limits.modules:  # a forbidden course module's references are recognised even if nothing imported it
            if name.split(".")[0] == "course_utils":
                with contextlib.suppress(ImportError):
                    importlib.import_module(name)
        self.copies = _reference_signatures()

    def c_label(self, name: str) -> str | None:
        if self.c_regex is None or not self.c_regex.match(name):
            return None
        return next(label for pattern, label in self.c_patterns if fnmatch.fnmatchcase(name, pattern))

    def code_label(self, code, module: str) -> str | None:
        if code.co_consts[-1:] == (REFERENCE_MARK,):
            return f"{module}.{_qualname(code)} (the course's reference implementation)"
        hit = self.codes.get(id(code))
        if hit is not None and hit[0] is code:
            return hit[1]
        filename = code.co_filename
        if self.prefix_tuple and filename.startswith(self.prefix_tuple):
            return next(label for prefix, label in self.prefixes if filename.startswith(prefix))
        if len(code.co_code) >= MIN_COPY_BYTES and (copied := self.copies.get(_copy_signature(code))) is not None:
            return f"{_qualname(code)} (a copy of the course's reference implementation {copied})"
        if (copied := self.copies.get(_loose_copy_signature(code))) is not None and not _source_reproduces(code):
            return f"{_qualname(code)} (a copy of the course's reference implementation {copied}, rebuilt without its source)"
        return None


def _reference_signatures() -> dict[tuple, str]:
    """Copy signatures of the reference functions loaded now: exact ones for sizeable functions, loose ones for all."""
    signatures = {}
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] != "course_utils" or module is None:
            continue
        for value in list(vars(module).values()):
            if getattr(value, "__module__", None) != name:
                continue
            for func in _functions_of(value):
                code = func.__code__
                if code.co_consts[-1:] == (REFERENCE_MARK,) and len(code.co_code) >= MIN_COPY_BYTES:
                    unmarked = code.replace(co_consts=code.co_consts[:-1])
                    signatures[_copy_signature(unmarked)] = f"{name}.{_qualname(code)}"
                if code.co_consts[-1:] == (REFERENCE_MARK,):
                    # code with the reference's bytecode and names that no source explains (a string run by exec, a
                    # rebuilt code object) is a copy whatever its size: honest code always has its source
                    for inner in _code_tree(code.replace(co_consts=code.co_consts[:-1])):
                        if len(inner.co_code) >= MIN_LOOSE_COPY_BYTES:
                            signatures.setdefault(_loose_copy_signature(inner), f"{name}.{_qualname(inner)}")
    return signatures


def _code_tree(code) -> Iterator:
    """A code object and the code objects nested in it (inner functions, comprehensions, lambdas)."""
    yield code
    for const in code.co_consts:
        if inspect.iscode(const):
            yield from _code_tree(const)


def _benign_thread(frame) -> bool:
    """tqdm's monitor thread, which progress bars start on their own."""
    thread = frame.f_locals.get("self")
    return type(thread).__module__.startswith("tqdm")


def _make_profiler(rules: _Rules, seen: list[str], built: list | None = None):
    """A profile function that records, never raises: raising would switch it off and hand control to the student.

    With ``built``, every ``torch.nn.Module`` whose ``__init__`` runs is appended to it.
    """
    verdicts: dict[int, tuple[Any, str | None]] = {}
    module_init = importlib.import_module("torch").nn.Module.__init__.__code__ if built is not None else None
    c_verdicts: dict[str, str | None] = {}
    thread_start = threading.Thread.start.__code__
    own_code = _guarded_call.__code__  # the guard's own calls around the student's function

    def profiler(frame, event, arg):
        if event == "call":
            code = frame.f_code
            cached = verdicts.get(id(code))
            if cached is None or cached[0] is not code:
                cached = (code, rules.code_label(code, frame.f_globals.get("__name__", "?")))
                verdicts[id(code)] = cached
            if cached[1] is not None and cached[1] not in seen:
                seen.append(cached[1])
            if code is module_init:
                built.append(frame.f_locals.get("self"))
            if code is thread_start and not _benign_thread(frame):
                seen.append("threading.Thread.start (graded code may not start threads)")
        elif event == "c_call" and frame.f_code is not own_code and not (frame.f_code is thread_start and _benign_thread(frame)):
            name = _c_name(arg)
            label = c_verdicts.get(name, False)
            if label is False:
                label = c_verdicts[name] = rules.c_label(name)
            if label is not None and label not in seen:
                seen.append(label)

    return profiler


# Libraries whose functions the checks below use (np.all, abs, ...): a student's function must not patch them either.
RESTORED_LIBRARIES = ("builtins", "math", "numpy", "numpy.linalg", "numpy.testing", "torch", "torch.nn",
                      "torch.nn.functional", "torch.testing", "importlib", "importlib.util", "inspect", "os", "os.path")


@contextlib.contextmanager
def _course_modules_restored() -> Iterator[None]:
    """Undo changes to the ``course_utils`` modules' names, and to the libraries the checks use, made inside this block."""
    modules = {name: m for name, m in list(sys.modules.items())
               if (name.split(".")[0] == "course_utils" or name in RESTORED_LIBRARIES) and m is not None}
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
                if hasattr(builtins, key) and name.split(".")[0] == "course_utils":  # would shadow a builtin there
                    del namespace[key]


def call_student(func: Callable, *args: Any, limits: Limits | None = None, **kwargs: Any) -> Any:
    """Call a student's function under the guard; fail if it used what the course's references or ``limits`` forbid."""
    return _guarded_call(func, args, kwargs, limits, None)


def construct_student(cls: Callable, *args: Any, limits: Limits | None = None, **kwargs: Any) -> Any:
    """Build a student's ``nn.Module`` under the guard; fail if any of its modules was not constructed by this call.

    A network whose layers are copies (``copy.deepcopy``, pickle) of modules built before the call, outside the
    guard (the course's reference networks built when a cell ran, say), was not built by the code being graded:
    copies never run ``__init__``. Modules passed in as arguments are the caller's and exempt.
    """
    built: list = []
    model = _guarded_call(cls, args, kwargs, limits, built)
    import torch

    if not isinstance(model, torch.nn.Module):
        return model
    given = {id(m) for value in (*args, *kwargs.values()) if isinstance(value, torch.nn.Module) for m in value.modules()}
    known = {id(m) for m in built} | given
    foreign = [name or "the model itself" for name, m in model.named_modules() if id(m) not in known]
    if foreign:
        name = getattr(cls, "__name__", None) or type(cls).__name__
        shown = ", ".join(foreign[:4]) + (f" and {len(foreign) - 4} more" if len(foreign) > 4 else "")
        raise AssertionError(f"{name}(...): its modules {shown} were not created while the constructor ran (copies of "
                             "modules built elsewhere, such as copy.deepcopy of another network). Create every layer "
                             "in __init__.")
    return model


def _guarded_call(func: Callable, args: tuple, kwargs: dict, limits: Limits | None, built: list | None) -> Any:
    if not callable(func):
        raise AssertionError(f"expected a function, got {type(func).__name__}: {func!r}")
    name = getattr(func, "__name__", None) or type(func).__name__
    limits = limits or NO_LIMITS
    rules = _Rules(limits)
    seen: list[str] = []
    profiler = _make_profiler(rules, seen, built)
    outer = sys.getprofile()
    error: BaseException | None = None
    result = None
    with _course_modules_restored():
        sys.setprofile(profiler)
        try:
            result = func(*args, **kwargs)
        except NotImplementedError:
            error = AssertionError(f"{name} is not implemented yet (it raised NotImplementedError)")
        except BaseException as err:  # judged after the guard's verdict, which comes first
            error = err
        finally:
            still_on = sys.getprofile() is profiler
            sys.setprofile(outer)
    if not still_on and not seen:
        seen.append("sys.setprofile (the grader's guard was switched off)")
    if seen:
        rule = f" {limits.rule}" if limits.rule else ""
        raise AssertionError(f"{name} used {', '.join(seen[:3])}{' and more' if len(seen) > 3 else ''}, which graded "
                             f"code may not use.{rule} Write this part yourself.") from None
    if error is not None:
        if isinstance(error, AssertionError) and "is not implemented yet" in str(error):
            raise error from None
        raise error
    return result


def fresh_rng(test: str, seed: int | None = None) -> np.random.Generator:
    """A NumPy generator for a hidden test's random cases, seeded from the OS at grading time; prints the seed.

    Pass the printed ``seed`` to reproduce a failure. The seed appears on standard output, which the
    student's feedback shows; it is drawn anew every time the test runs.
    """
    if seed is None:
        seed = secrets.randbits(32)
    print(f"{test}: random cases drawn with seed {seed}")
    return np.random.default_rng(seed)


def torch_generator(rng: np.random.Generator):
    """A ``torch.Generator`` seeded from ``rng``, for tensors drawn in a hidden test."""
    import torch

    return torch.Generator().manual_seed(int(rng.integers(0, 2**62)))


def _normalised_tokens(source: str) -> list[str]:
    """The AST of ``source`` as a token list with every identifier and constant replaced by its kind."""
    tree = ast.parse(textwrap.dedent(source))
    tokens = []
    for node in ast.walk(tree):
        tokens.append(type(node).__name__)
        if isinstance(node, ast.Attribute):
            tokens.append(node.attr)  # library calls (nn.Conv2d, F.relu) carry the structure
    return tokens


def _source(obj: Any) -> str:
    """The source of a function or class; for a class defined in a notebook cell, the source of its methods.

    Before Python 3.13 ``inspect.getsource`` cannot find a class defined in a notebook cell (its module has
    no file), but it finds the cell's functions, which IPython registers with ``linecache``.
    """
    if inspect.isclass(obj):
        try:
            return inspect.getsource(obj)
        except (OSError, TypeError):
            return "\n".join(textwrap.dedent(inspect.getsource(f)) for f in _functions_of(obj))
    return inspect.getsource(obj)


def _helpers(obj: Any, limit: int = 12) -> list:
    """The functions ``obj`` calls by global name that are defined beside it (same module), in order of first use.

    A function split into helpers is compared together with them: pasting the reference with its helpers renamed
    moves most of the code out of the function the test names.
    """
    found: list = []
    queue = _functions_of(obj)
    seen = {id(f) for f in queue}
    module = getattr(obj, "__module__", None)
    while queue and len(found) < limit:
        func = queue.pop(0)
        for code in _code_tree(func.__code__):
            for name in code.co_names:
                value = func.__globals__.get(name)
                helper = _own_function(value) if inspect.isfunction(value) else None
                if helper is None or id(helper) in seen or getattr(helper, "__module__", None) != module:
                    continue
                seen.add(id(helper))
                found.append(helper)
                queue.append(helper)
    return found


def _source_with_helpers(obj: Any) -> str:
    parts = [textwrap.dedent(_source(obj))]
    for helper in _helpers(obj):
        with contextlib.suppress(OSError, TypeError):
            parts.append(textwrap.dedent(inspect.getsource(helper)))
    return "\n".join(parts)


def copied_share(student: Any, reference_obj: Any) -> float:
    """How much of ``student``'s code has the same structure as ``reference_obj`` (0 to 1), names ignored.

    The larger of two comparisons: the code alone, and the code with the helper functions each side calls from its
    own module (see :func:`_helpers`), so that neither inlining the reference's helpers nor renaming them hides a copy.
    """
    shares = [0.0]
    for read in (_source, _source_with_helpers):
        try:
            mine = _normalised_tokens(read(student))
            theirs = _normalised_tokens(read(reference_obj))
        except (OSError, TypeError, SyntaxError):
            continue
        shares.append(difflib.SequenceMatcher(None, mine, theirs, autojunk=False).ratio())
    return max(shares)


def check_has_source(student: Any, what: str) -> None:
    """Fail for a function or class whose source cannot be read: one made by ``exec`` or ``compile`` of a string.

    Code typed into a notebook cell or a file always has a source, which the copy checks compare; a string run by
    ``exec`` (the reference's source, say) would hide from them.
    """
    try:
        _source(student)
    except (OSError, TypeError):
        raise AssertionError(f"the source of {what} cannot be read: define it in a notebook cell, not from a string "
                             "through exec or compile") from None


def check_not_copied(student: Any, reference_obj: Any, what: str, threshold: float = 0.9) -> None:
    """Fail when a student's function or class is the course's reference with names changed."""
    share = copied_share(student, reference_obj)
    if share >= threshold:
        raise AssertionError(f"{what} has the same structure as the course's reference "
                             f"{reference_obj.__module__}.{reference_obj.__qualname__} ({share:.0%} alike); "
                             "hand in your own design.")


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
