# Mutant: backward_and_clip never clears the old gradients, so they accumulate across steps
# %% grade_id=adding_model
class AddingModel(nn.Module):
    # Many-to-one: LSTM(2, hidden_size) over the sequence, a linear head on the last hidden state; returns (B,).

    def __init__(self, hidden_size):
        super().__init__()
        self.lstm = LSTM(2, hidden_size)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x):
        outputs, _ = self.lstm(x)
        return self.head(outputs[:, -1]).squeeze(1)


def backward_and_clip(model, inputs, targets, max_norm=1.0):
    # Clear old gradients, MSE of model(inputs) against targets, backward, clip_grad_norm; return the loss as a float.
    loss = ((model(inputs) - targets) ** 2).mean()
    loss.backward()
    clip_grad_norm(model.parameters(), max_norm)
    return loss.item()
