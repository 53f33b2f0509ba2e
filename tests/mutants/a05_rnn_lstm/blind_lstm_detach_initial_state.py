# Mutant: LSTM detaches a given initial state (h0, c0), so no gradient reaches h0 and c0 (values and all other gradients are right)
# %% grade_id=lstm_layer
class LSTM(nn.Module):
    # Your LSTMCell applied along the time axis of x (B, T, D): returns (outputs (B, T, H), (h_T, c_T)).

    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.cell = LSTMCell(input_size, hidden_size)

    def forward(self, x, state=None):
        batch, steps, _ = x.shape
        if state is None:
            h = x.new_zeros(batch, self.hidden_size)
            c = x.new_zeros(batch, self.hidden_size)
        else:
            # the initial state comes from outside this sequence: do not backpropagate into it
            h, c = state[0].detach(), state[1].detach()
        outputs = []
        for t in range(steps):
            h, c = self.cell(x[:, t], (h, c))
            outputs.append(h)
        return torch.stack(outputs, dim=1), (h, c)
