# Mutant: conv_output_size uses (n + 2p - f + 1) / s, rounded down (wrong when s does not divide n + 2p - f + 1)
# %% grade_id=conv_output_size
def conv_output_size(n, f, p=0, s=1, d=1):
    """Output length of a convolution over length n: kernel size f, padding p, stride s, dilation d.

    Raises ValueError when the (dilated) kernel does not fit in the padded input.
    """
    span = d * (f - 1) + 1  # inputs covered by one placement of the dilated kernel
    padded = n + 2 * p
    if span > padded:
        raise ValueError(f"a kernel spanning {span} inputs does not fit in a padded input of length {padded}")
    # the window starts at 0, s, 2s, ... and the last start is at most padded - span
    return (n + 2 * p - f + 1) // s  # the formula that loses a placement when s does not divide n + 2p - f + 1
