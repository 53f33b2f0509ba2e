# Mutant: gaming: conv_output_size runs a PyTorch Conv1d on zeros and reads off the length instead of deriving it
# %% grade_id=conv_output_size
def conv_output_size(n, f, p=0, s=1, d=1):
    """Output length of a convolution over length n: kernel size f, padding p, stride s, dilation d.

    Raises ValueError when the (dilated) kernel does not fit in the padded input.
    """
    try:
        out = nn.Conv1d(1, 1, kernel_size=f, stride=s, padding=p, dilation=d)(torch.zeros(1, 1, n))
    except RuntimeError as err:
        raise ValueError(str(err)) from None
    return int(out.shape[-1])
