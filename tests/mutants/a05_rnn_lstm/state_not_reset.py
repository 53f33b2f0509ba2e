# Mutant: the LSTM carries its last state over to the next call (state not reset between sequences)
# %% grade_id=lstm_layer
class LSTM(nn.Module):
    # Your LSTMCell applied along the time axis of x (B, T, D): returns (outputs (B, T, H), (h_T, c_T)).

    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.cell = LSTMCell(input_size, hidden_size)

    def forward(self, x, state=None):
        if state is None and getattr(self, "carried", None) is not None and self.carried[0].shape[0] == x.shape[0]:
            state = tuple(s.detach() for s in self.carried)
        hidden_states = []
        for t in range(x.shape[1]):
            state = self.cell(x[:, t], state)
            hidden_states.append(state[0])
        self.carried = state
        return torch.stack(hidden_states, dim=1), state
