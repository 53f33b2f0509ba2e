# Mutant: gaming: LSTMCell is PyTorch's nn.LSTMCell under the assignment's name
# %% grade_id=lstm_cell
class LSTMCell(nn.LSTMCell):
    # Same parameter names and gate order as the assignment asks for, so the weights load.
    pass
