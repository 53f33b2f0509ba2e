# Mutant: conv_output_size defaults to padding 1 ('same' padding for 3x3 kernels)
# %% grade_id=conv_output_size
def conv_output_size(n, f, p=1, s=1, d=1):
    """Output length of a convolution over length n: kernel size f, padding p, stride s, dilation d.

    Raises ValueError when the (dilated) kernel does not fit in the padded input.
    """
    span = d * (f - 1) + 1  # inputs covered by one placement of the dilated kernel
    padded = n + 2 * p
    if span > padded:
        raise ValueError(f"a kernel spanning {span} inputs does not fit in a padded input of length {padded}")
    # the window starts at 0, s, 2s, ... and the last start is at most padded - span
    return (padded - span) // s + 1
