# Mutant: AddingModel uses .squeeze() instead of .squeeze(-1), so a batch of one sequence returns a 0-d tensor instead of shape (1,)
# %% grade_id=adding_model
class AddingModel(nn.Module):
    # Many-to-one: LSTM(2, hidden_size) over the sequence, a linear head on the last hidden state; returns (B,).

    def __init__(self, hidden_size):
        super().__init__()
        self.lstm = LSTM(2, hidden_size)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x):
        _, (h_last, _) = self.lstm(x)
        return self.head(h_last).squeeze()


def backward_and_clip(model, inputs, targets, max_norm=1.0):
    # Clear old gradients, MSE of model(inputs) against targets, backward, clip_grad_norm; return the loss as a float.
    model.zero_grad(set_to_none=True)
    loss = ((model(inputs) - targets) ** 2).mean()
    loss.backward()
    clip_grad_norm(model.parameters(), max_norm)
    return loss.item()
