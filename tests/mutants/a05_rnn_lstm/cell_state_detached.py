# Mutant: the cell state is detached at every step (no backpropagation through time along c)
# %% grade_id=lstm_layer
class LSTM(nn.Module):
    # Your LSTMCell applied along the time axis of x (B, T, D): returns (outputs (B, T, H), (h_T, c_T)).

    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.cell = LSTMCell(input_size, hidden_size)

    def forward(self, x, state=None):
        hidden_states = []
        for t in range(x.shape[1]):
            state = self.cell(x[:, t], state)
            state = (state[0], state[1].detach())
            hidden_states.append(state[0])
        return torch.stack(hidden_states, dim=1), state
