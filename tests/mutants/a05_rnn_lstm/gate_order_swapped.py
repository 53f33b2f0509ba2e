# Mutant: gates read in the order i, f, o, g instead of PyTorch's i, f, g, o
# %% grade_id=lstm_cell
class LSTMCell(nn.Module):
    # One LSTM step from the gate equations; parameters in nn.LSTMCell's layout (gates i, f, g, o).

    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        bound = 1 / hidden_size**0.5
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size).uniform_(-bound, bound))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size).uniform_(-bound, bound))
        self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size).uniform_(-bound, bound))
        self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size).uniform_(-bound, bound))

    def forward(self, x, state=None):
        if state is None:
            zeros = x.new_zeros(x.shape[0], self.hidden_size)
            state = (zeros, zeros)
        h, c = state
        pre = x @ self.weight_ih.T + self.bias_ih + h @ self.weight_hh.T + self.bias_hh  # (B, 4H)
        H = self.hidden_size
        input_gate = torch.sigmoid(pre[:, :H])
        forget_gate = torch.sigmoid(pre[:, H : 2 * H])
        candidate = torch.tanh(pre[:, 3 * H :])
        output_gate = torch.sigmoid(pre[:, 2 * H : 3 * H])
        c_next = forget_gate * c + input_gate * candidate
        h_next = output_gate * torch.tanh(c_next)
        return h_next, c_next
