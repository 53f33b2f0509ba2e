# Mutant: gaming attempt, backward recomputes the loss in PyTorch and lets autograd find the gradients
# %% grade_id=backward
import torch as _t


def backward(params, cache, probs, labels):
    """Gradients of the mean cross-entropy with respect to every W and b."""
    weights = [(_t.tensor(layer["W"], requires_grad=True), _t.tensor(layer["b"], requires_grad=True)) for layer in params]
    A = _t.tensor(cache[0][0])
    for i, (W, b) in enumerate(weights):
        Z = A @ W + b
        A = Z if i == len(weights) - 1 else _t.relu(Z)
    loss = _t.nn.functional.cross_entropy(A, _t.tensor(np.asarray(labels), dtype=_t.long))
    loss.backward()
    return [{"W": W.grad.numpy(), "b": b.grad.numpy()} for W, b in weights]
