import numpy as np
import pytest

from course_utils import grading as G
from course_utils import numpy_nn


def test_check_close_names_worst_entry():
    with pytest.raises(AssertionError, match=r"probs at index \(1, 2\) is 5, expected 3"):
        G.check_close(np.array([[1.0, 2, 3], [1, 2, 5]]), np.array([[1.0, 2, 3], [1, 2, 3]]), name="probs")


def test_check_close_shape_and_none_messages():
    with pytest.raises(AssertionError, match=r"has shape \(3,\), expected \(1, 3\)"):
        G.check_close(np.zeros(3), np.zeros((1, 3)))
    with pytest.raises(AssertionError, match="forget a `return`"):
        G.check_close(None, np.zeros(3))
    with pytest.raises(AssertionError, match="non-finite"):
        G.check_close(np.array([np.nan, 1.0]), np.array([1.0, 1.0]))


def test_check_close_passes_within_tolerance():
    G.check_close(np.array([1.0, 2.0]), np.array([1.0 + 1e-9, 2.0]))


def test_check_at_least_and_shape():
    G.check_at_least(0.95, 0.9, "accuracy")
    with pytest.raises(AssertionError, match="accuracy is 0.5; it must be at least 0.9"):
        G.check_at_least(0.5, 0.9, "accuracy")
    with pytest.raises(AssertionError, match="expected"):
        G.check_shape(np.zeros((2, 3)), (3, 2), "W")


def test_reference_blocked_while_student_code_runs():
    def lazy_student_relu(z):
        return numpy_nn.relu(z)  # imports the reference instead of writing it

    z = np.array([-1.0, 2.0])
    np.testing.assert_array_equal(numpy_nn.relu(z), [0.0, 2.0])  # fine outside grading
    with pytest.raises(AssertionError, match="reference implementation"):
        G.call_student(lazy_student_relu, z)
    with pytest.raises(AssertionError, match="reference implementation"):
        G.call_student(numpy_nn.relu, z)  # handing in the reference itself
    np.testing.assert_array_equal(numpy_nn.relu(z), [0.0, 2.0])  # unblocked afterwards


def test_call_student_reports_unimplemented():
    def stub(z):
        raise NotImplementedError()

    with pytest.raises(AssertionError, match="not implemented yet"):
        G.call_student(stub, 1)
    with pytest.raises(AssertionError, match="expected a function"):
        G.call_student(42)


def test_numerical_gradient_matches_analytic():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(3, 3))
    x = rng.normal(size=3)
    grad = G.numerical_gradient(lambda: float(x @ A @ x), x)
    np.testing.assert_allclose(grad, (A + A.T) @ x, rtol=1e-6, atol=1e-8)


def test_reference_optimizer_update_is_blocked_too():
    import torch

    from course_utils import optim

    class Borrowed:
        """A student optimizer that calls the course's update rule instead of writing it."""

        def __init__(self, p):
            self.p, self.state, self.lr, self.momentum, self.nesterov, self.dampening = p, {}, 0.1, 0.0, False, 0.0

        def step(self):
            optim.SGD.update(self, self.p, self.p.grad, self.state)

    p = torch.ones(2, requires_grad=True)
    p.grad = torch.ones(2)
    with pytest.raises(AssertionError, match="reference implementation"):
        G.call_student(lambda: Borrowed(p).step())
