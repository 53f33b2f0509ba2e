"""The run-time guard of call_student: references, declared limits and attacks on the guard, whatever the alias."""

from __future__ import annotations

import inspect
import sys
import threading
import types

import numpy as np
import pytest
import torch

from course_utils import grading as G
from course_utils import numpy_nn

NUMPY_ONLY = G.Limits(modules=("torch", "sklearn"), rule="This part uses NumPy only.")
NO_TORCH_OPTIM = G.Limits(modules=("torch.optim",), functions=("torch._fused_*", "torch._foreach_*"),
                          rule="Write the update rule yourself.")


def _refused(func, *args, limits=None, match="may not use"):
    with pytest.raises(AssertionError, match=match) as info:
        G.call_student(func, *args, limits=limits)
    return str(info.value)


def test_numpy_code_passes_and_returns_its_value():
    assert G.call_student(lambda z: np.maximum(z, 0).sum(), np.array([-1.0, 2.0]), limits=NUMPY_ONLY) == 2.0


def test_torch_autograd_is_refused_under_any_name():
    import torch as renamed

    def backward_with_autograd(x):
        t = renamed.tensor(x, requires_grad=True)
        (t**2).sum().backward()
        return t.grad.numpy()

    def tensor_from_numpy(x):
        return renamed.from_numpy(x).numpy()

    assert "torch" in _refused(backward_with_autograd, np.ones(3), limits=NUMPY_ONLY)
    _refused(tensor_from_numpy, np.ones(3), limits=NUMPY_ONLY)


def test_torch_optim_in_every_form_is_refused():
    p = torch.ones(3, requires_grad=True)
    p.grad = torch.ones(3)
    from torch.optim import adam as adam_module
    from torch.optim import sgd as sgd_module

    def optimiser_class():
        torch.optim.Adam([p], lr=0.1).step()

    def functional_adam():
        adam_module.adam([p], [p.grad], [torch.zeros(3)], [torch.zeros(3)], [], [torch.tensor(0.0)], foreach=False,
                         amsgrad=False, beta1=0.9, beta2=0.999, lr=0.1, weight_decay=0.0, eps=1e-8, maximize=False)

    def functional_sgd():
        sgd_module.sgd([p], [p.grad], [None], weight_decay=0.0, momentum=0.0, lr=0.1, dampening=0.0,
                       nesterov=False, maximize=False)

    def foreach_kernel():
        with torch.no_grad():
            torch._foreach_add_([p], [p.grad], alpha=-0.1)

    for attempt in (optimiser_class, functional_adam, functional_sgd, foreach_kernel):
        _refused(attempt, limits=NO_TORCH_OPTIM)

    def by_hand():
        with torch.no_grad():
            p.sub_(0.1 * p.grad)

    G.call_student(by_hand, limits=NO_TORCH_OPTIM)


def test_named_functions_and_classes_are_refused():
    limits = G.Limits(functions=("torch.nn.LSTMCell", "torch.lstm_cell"))
    cell = torch.nn.LSTMCell(2, 3)
    x = torch.zeros(1, 2)
    _refused(lambda: torch.nn.LSTMCell(2, 3), limits=limits)  # building one
    _refused(lambda: cell(x), limits=limits)  # calling one built before
    _refused(lambda: torch.lstm_cell(x, (torch.zeros(1, 3), torch.zeros(1, 3)), cell.weight_ih, cell.weight_hh),
             limits=limits)
    G.call_student(lambda: torch.nn.GRUCell(2, 3)(x), limits=limits)  # not forbidden here


def test_reading_files_is_refused_when_declared(tmp_path):
    path = tmp_path / "data.npy"
    np.save(path, np.arange(3))
    limits = G.Limits(no_files=True, rule="Train on the data you are given.")
    _refused(lambda: np.load(path), limits=limits)
    _refused(lambda: open(path, "rb").read(), limits=limits)
    _refused(lambda: path.read_bytes(), limits=limits)
    assert G.call_student(lambda: np.load(path).sum()) == 3  # allowed without the limit


def test_reference_code_is_refused_through_aliases_and_copies():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(5, 2)), np.array([0, 1, 0, 1, 1])
    params = numpy_nn.init_params([2, 3, 2], seed=0)
    probs, cache = numpy_nn.forward(params, X)
    assert not hasattr(numpy_nn.backward, "__wrapped__")
    alias = numpy_nn.backward
    _refused(lambda: alias(params, cache, probs, y), match="reference implementation")
    code = numpy_nn.backward.__code__
    unmarked = types.FunctionType(code.replace(co_consts=code.co_consts[:-1]), vars(numpy_nn))
    _refused(lambda: unmarked(params, cache, probs, y), match="copy of the course's reference")


def test_switching_the_guard_off_is_refused():
    def switch_off():
        sys.setprofile(None)
        return torch.zeros(1)

    def peek():
        return sys.getprofile()

    def thread():
        worker = threading.Thread(target=lambda: None)
        worker.start()
        worker.join()

    _refused(switch_off, limits=NUMPY_ONLY, match="interferes with the grader")
    _refused(peek, match="interferes with the grader")
    _refused(thread, match="threads")
    assert sys.getprofile() is None


def test_a_thread_named_like_tqdms_monitor_is_still_refused():
    from tqdm import std

    def loop_with_progress_bar():
        return sum(std.tqdm(range(3), disable=True))

    std.tqdm.monitor = None  # as in a fresh kernel: the first bar starts tqdm's monitor thread
    assert G.call_student(loop_with_progress_bar) == 3

    def thread_named_like_tqdm():
        class Monitor(threading.Thread):
            pass

        worker = Monitor(target=lambda: None)
        worker.start()
        worker.join()

    _refused(thread_named_like_tqdm, match="threads")


def test_guard_state_is_not_a_module_switch():
    assert not any(isinstance(v, int) and not isinstance(v, bool) and "block" in k for k, v in vars(G).items())


def test_failure_message_names_the_call_and_the_rule():
    message = _refused(lambda: torch.zeros(2), limits=NUMPY_ONLY)
    assert "torch" in message and "NumPy only" in message


def test_exceptions_of_student_code_still_propagate():
    def broken(x):
        return x[5]

    with pytest.raises(IndexError):
        G.call_student(broken, [1, 2])


def test_fresh_rng_prints_its_seed_and_differs(capsys):
    first = G.fresh_rng("test_x").integers(0, 2**62)
    second = G.fresh_rng("test_x").integers(0, 2**62)
    assert first != second
    assert capsys.readouterr().out.count("seed") == 2
    assert G.fresh_rng("t", seed=5).integers(0, 100) == np.random.default_rng(5).integers(0, 100)


def test_copied_structure_is_detected_names_ignored(tmp_path, monkeypatch):
    import importlib
    import inspect

    from course_utils.models.cnn import MNISTNet

    renamed = inspect.getsource(MNISTNet).replace("MNISTNet", "MyNet").replace("features", "body").replace("x", "inputs")
    own = (
        "class Own(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.layers = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))\n\n"
        "    def forward(self, images):\n"
        "        return self.layers(images)\n"
    )
    (tmp_path / "student_models.py").write_text("import torch\nimport torch.nn.functional as F\nfrom torch import nn\n\n" + renamed + "\n\n" + own)
    monkeypatch.syspath_prepend(str(tmp_path))
    student = importlib.import_module("student_models")
    assert G.copied_share(student.MyNet, MNISTNet) > 0.9
    with pytest.raises(AssertionError, match="same structure"):
        G.check_not_copied(student.MyNet, MNISTNet, "your model")
    assert G.copied_share(student.Own, MNISTNet) < 0.6
    G.check_not_copied(student.Own, MNISTNet, "your model")


def test_a_forbidden_class_does_not_flag_other_users_of_its_decorators():
    from course_utils import optim as reference_optim

    limits = G.Limits(functions=("course_utils.optim.Optimizer",))  # its step() is decorated with @torch.no_grad()

    @torch.no_grad()
    def own_step():
        return float(torch.ones(2).sum())

    assert G.call_student(own_step, limits=limits) == 2.0
    p = torch.ones(2, requires_grad=True)
    p.grad = torch.ones(2)
    subclass = type("Mine", (reference_optim.Optimizer,), {"update": lambda self, q, g, state: q.sub_(g)})
    _refused(lambda: subclass([p], lr=0.1).step(), limits=limits)


def _run_as_cell(source: str, name: str = "cell") -> dict:
    """Run ``source`` as IPython runs a notebook cell: compiled under a file name whose lines linecache holds."""
    import linecache

    filename = f"<course-test-{name}-{abs(hash(source))}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict = {}
    exec(compile(source, filename, "exec"), namespace)
    return namespace


def test_honest_code_that_compiles_like_a_reference_is_not_a_copy():
    # One-liners an honest student writes byte for byte like the reference (``import numpy as np`` in the same
    # cell makes NumPy calls compile exactly as in the reference module), and a generator-sum schedule.
    # The cross-entropy compiles to the reference's bytecode and names (only its line table differs); its source is
    # where IPython keeps every cell's (linecache), so it is the student's own code, not a rebuilt copy.
    namespace = _run_as_cell("import numpy as np\n\n"
                             "def relu_grad(z):\n    \"\"\"Derivative of ReLU.\"\"\"\n    return (np.asarray(z) > 0).astype(float)\n\n"
                             "def multistep_lr(base_lr, epoch, milestones, gamma):\n"
                             "    passed = sum(1 for m in milestones if epoch >= m)\n    return base_lr * gamma**passed\n\n"
                             "def cross_entropy(probs, labels, eps=1e-12):\n"
                             "    probs = np.asarray(probs, dtype=float)\n    labels = np.asarray(labels, dtype=int)\n"
                             "    correct = probs[np.arange(labels.shape[0]), labels]\n"
                             "    return float(-np.mean(np.log(np.clip(correct, eps, 1.0))))\n")
    assert G.call_student(namespace["multistep_lr"], 0.1, 10, [10, 20], 0.5) == 0.05
    np.testing.assert_array_equal(G.call_student(namespace["relu_grad"], np.array([-1.0, 0.0, 2.0])), [0.0, 0.0, 1.0])
    assert G.call_student(namespace["cross_entropy"], np.array([[0.5, 0.5]]), np.array([0])) == pytest.approx(np.log(2))


def test_a_progress_bar_may_start_its_monitor_thread():
    from tqdm import tqdm

    def loop_with_bar(n):
        total = 0
        for i in tqdm(range(n), disable=True):
            total += i
        return total

    for _ in range(2):  # tqdm starts its monitor thread again once the previous bar has closed
        assert G.call_student(loop_with_bar, 4, limits=NUMPY_ONLY) == 6


def test_marking_a_class_marks_its_own_methods_not_the_decorators_shared_wrapper():
    class Ref:
        @torch.no_grad()
        def sample(self):
            return 1

    G.reference(Ref)
    assert G.is_reference(Ref)
    assert G.is_reference(inspect.unwrap(Ref.sample))

    @torch.no_grad()
    def own():
        return 2

    assert own.__code__.co_consts[-1:] != (G.REFERENCE_MARK,)  # torch's wrapper code is left alone
    assert G.call_student(own) == 2


def test_every_oracle_of_the_checks_modules_is_marked_as_a_reference():
    # An oracle computes a hidden test's expected answer; a student's function that called it would pass the test.
    import importlib
    import pkgutil

    import course_utils.checks as checks
    from course_utils import grading as G

    oracles = []
    for info in pkgutil.iter_modules(checks.__path__):
        module = importlib.import_module(f"course_utils.checks.{info.name}")
        for name, value in vars(module).items():
            if "oracle" in name and callable(value) and getattr(value, "__module__", None) == module.__name__:
                oracles.append(f"{info.name}.{name}")
                assert G.is_reference(value), f"{info.name}.{name} is not marked with @reference"
    assert len(oracles) >= 12, oracles


def test_a_reference_rebuilt_with_other_local_names_is_a_copy():
    """A reference's code object with its marker dropped and its locals renamed: no source explains it."""
    import types

    from course_utils.numpy_nn import cross_entropy

    code = cross_entropy.__code__
    code = code.replace(co_consts=code.co_consts[:-1], co_varnames=tuple(f"v{i}" for i in range(len(code.co_varnames))),
                        co_filename="<my helpers>", co_linetable=b"")
    laundered = types.FunctionType(code, cross_entropy.__globals__, "my_loss", cross_entropy.__defaults__)
    assert not G.is_reference(laundered)
    with pytest.raises(AssertionError, match="rebuilt without its source"):
        G.call_student(laundered, np.array([[0.5, 0.5]]), np.array([0]))


def test_reference_source_executed_from_a_string_is_a_copy():
    """The reference's source, decorator removed, run by exec under another file name (with the module's import)."""
    import inspect

    from course_utils import numpy_nn

    source = "import numpy as np\n\n" + inspect.getsource(numpy_nn.cross_entropy).replace("@reference\n", "")
    namespace = dict(vars(numpy_nn))
    exec(compile(source, "<string>", "exec"), namespace)
    with pytest.raises(AssertionError, match="rebuilt without its source"):
        G.call_student(namespace["cross_entropy"], np.array([[0.5, 0.5]]), np.array([0]))


def test_the_same_code_written_in_a_cell_as_a_method_is_not_a_copy():
    """Source in a cell explains the code, wherever in the cell it sits (here indented in a class)."""
    import inspect
    import textwrap

    from course_utils import numpy_nn

    body = inspect.getsource(numpy_nn.cross_entropy).replace("@reference\n", "@staticmethod\n")
    namespace = _run_as_cell("import numpy as np\n\nclass Mine:\n" + textwrap.indent(body, "    "), "method")
    assert G.call_student(namespace["Mine"].cross_entropy, np.array([[0.5, 0.5]]), np.array([0])) == pytest.approx(np.log(2))


def test_in_ipython_a_cell_explains_its_code_and_a_rebuilt_reference_is_a_copy():
    """The same two cases in a real IPython shell (as a kernel runs cells), in a process of its own so that no
    IPython instance is left behind for later tests: the cell's source is where IPython keeps it."""
    import subprocess
    import textwrap

    script = textwrap.dedent("""
        import numpy as np
        from IPython.core.interactiveshell import InteractiveShell
        from course_utils import grading as G

        shell = InteractiveShell.instance()
        shell.run_cell("import numpy as np\\n"
                       "def cross_entropy(probs, labels, eps=1e-12):\\n"
                       "    probs = np.asarray(probs, dtype=float)\\n    labels = np.asarray(labels, dtype=int)\\n"
                       "    correct = probs[np.arange(labels.shape[0]), labels]\\n"
                       "    return float(-np.mean(np.log(np.clip(correct, eps, 1.0))))\\n").raise_error()
        shell.run_cell("import types\\nfrom course_utils.numpy_nn import cross_entropy as ref\\ncode = ref.__code__\\n"
                       "code = code.replace(co_consts=code.co_consts[:-1], co_filename='<mine>', co_linetable=b'',\\n"
                       "    co_varnames=tuple(f'v{i}' for i in range(len(code.co_varnames))))\\n"
                       "rebuilt = types.FunctionType(code, ref.__globals__, 'rebuilt', ref.__defaults__)\\n").raise_error()
        probs, labels = np.array([[0.5, 0.5]]), np.array([0])
        print("honest", G.call_student(shell.user_ns["cross_entropy"], probs, labels))
        try:
            G.call_student(shell.user_ns["rebuilt"], probs, labels)
            print("rebuilt passed")
        except AssertionError as err:
            print("rebuilt refused:", err)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"honest {np.log(2)}" in done.stdout, done.stdout
    assert "rebuilt refused:" in done.stdout and "rebuilt without its source" in done.stdout, done.stdout


class _Net(torch.nn.Module):
    def __init__(self, width=4):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(3, width), torch.nn.ReLU(), torch.nn.Linear(width, 1))

    def forward(self, x):
        return self.body(x)


_PREBUILT = _Net(5)


class _CopiedNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        import copy

        self.body = copy.deepcopy(_PREBUILT.body)  # layers built before the graded call, copied in


class _PickledNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        import io

        buffer = io.BytesIO()
        torch.save(_PREBUILT.body, buffer)
        buffer.seek(0)
        self.body = torch.load(buffer, weights_only=False)


class _SharedLayerNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.head = torch.nn.Linear(3, 1)
        self.act = _PREBUILT.body[1]  # a module made outside the constructor, not a copy, still not built here


class _Wrapper(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.head = torch.nn.Linear(1, 1)


def test_construct_student_accepts_a_network_built_in_its_constructor():
    model = G.construct_student(_Net, 7)
    assert isinstance(model, _Net) and model.body[0].out_features == 7
    assert G.construct_student(lambda: 3) == 3  # not a module: nothing to check


@pytest.mark.parametrize("cls", [_CopiedNet, _PickledNet, _SharedLayerNet])
def test_construct_student_refuses_modules_it_did_not_create(cls):
    with pytest.raises(AssertionError, match="not created while the constructor ran") as info:
        G.construct_student(cls)
    assert "body" in str(info.value) or "act" in str(info.value)
    assert sys.getprofile() is None


def test_construct_student_exempts_modules_passed_in_and_still_applies_the_limits():
    inner = _Net(2)
    model = G.construct_student(_Wrapper, inner)
    assert model.inner is inner
    with pytest.raises(AssertionError, match="used torch.nn"):
        G.construct_student(_Wrapper, inner, limits=G.Limits(modules=("torch.nn",)))  # torch.nn's code is forbidden here


def test_a_one_line_reference_run_from_a_string_is_a_copy_and_the_same_line_in_a_cell_is_not():
    """Below the size at which typed code is compared, code that no source explains is still recognised."""
    import inspect

    from course_utils import augment

    assert len(augment.mixup.__code__.co_code) < G.MIN_COPY_BYTES
    source = "import torch\n\n" + inspect.getsource(augment.mixup).replace("@reference\n", "")
    source = source.replace(" -> tuple[torch.Tensor, torch.Tensor]", "")
    namespace: dict = {}
    exec(compile(source, "<my augment>", "exec"), namespace)
    x, y, perm = torch.rand(3, 1, 2, 2), torch.eye(3), torch.tensor([1, 2, 0])

    def wrapper(images, targets, lam, permutation):  # honest-looking code that calls the exec'd copy
        return namespace["mixup"](images, targets, lam, permutation)

    with pytest.raises(AssertionError, match="rebuilt without its source"):
        G.call_student(wrapper, x, y, 0.3, perm)
    typed = _run_as_cell(source, "mixup")  # the same line typed into a cell
    mixed, _ = G.call_student(typed["mixup"], x, y, 0.3, perm)
    torch.testing.assert_close(mixed, 0.3 * x + 0.7 * x[perm])


def test_copied_share_compares_helpers_too():
    """The reference's helpers pasted with their names changed under a reworded top function: the function alone
    differs from the reference, with its helpers it is a copy."""
    import difflib
    import inspect

    from course_utils import augment

    helpers = "\n\n".join(inspect.getsource(f).replace("@reference\n", "")
                           for f in (augment.kl_divergence, augment.js_divergence))
    for old, new in (("js_divergence", "_jsd"), ("kl_divergence", "_kl"), ("mixture", "mid"), ("distributions", "ds"),
                     ("ratio", "r")):
        helpers = helpers.replace(old, new)
    namespace = _run_as_cell("import torch\n\n" + helpers + "\n\n"
                             "def my_loss(a, b, c):\n"
                             "    probs = [t.softmax(dim=1) for t in (a, b, c)]\n"
                             "    loss = _jsd(*probs)\n"
                             "    return loss.mean()\n", "js")
    alone = difflib.SequenceMatcher(None, G._normalised_tokens(G._source(namespace["my_loss"])),
                                    G._normalised_tokens(G._source(augment.js_consistency_loss)), autojunk=False).ratio()
    assert alone < 0.8 <= G.copied_share(namespace["my_loss"], augment.js_consistency_loss)
    with pytest.raises(AssertionError, match="same structure"):
        G.check_not_copied(namespace["my_loss"], augment.js_consistency_loss, "your loss", 0.8)
    own = _run_as_cell(
        "import torch\n\n"
        "def my_loss(a, b, c):\n"
        "    p = torch.stack([torch.softmax(t, dim=1) for t in (a, b, c)])\n"
        "    m = p.mean(0, keepdim=True)\n"
        "    return (p * (p.clamp_min(1e-12).log() - m.clamp_min(1e-12).log())).sum(-1).mean(0).mean()\n", "own")
    assert G.copied_share(own["my_loss"], augment.js_consistency_loss) < 0.6


def test_check_has_source_refuses_code_from_a_string():
    namespace: dict = {}
    exec("def f(x):\n    return x + 1\n", namespace)
    with pytest.raises(AssertionError, match="cannot be read"):
        G.check_has_source(namespace["f"], "your f")
    G.check_has_source(_run_as_cell("def f(x):\n    return x + 1\n", "f")["f"], "your f")
