# Mutant: gaming attempt, train hands the work to the course's reference through an alias
# %% grade_id=train
import course_utils.numpy_nn as _nn


def train(X, labels, hidden_sizes=(64, 64), epochs=100, batch_size=32, lr=0.1, milestones=(), gamma=0.1,
          seed=0, progress=False):
    """Mini-batch gradient descent with multi-step learning-rate decay."""
    return _nn.train(X, labels, hidden_sizes=hidden_sizes, epochs=epochs, batch_size=batch_size, lr=lr,
                     milestones=milestones, gamma=gamma, seed=seed, progress=progress)
