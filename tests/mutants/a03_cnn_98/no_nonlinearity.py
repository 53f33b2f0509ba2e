# Mutant: build_model has no non-linearity (no ReLU, average pooling): the whole network is linear
# %% grade_id=build_model
def build_model():
    """A new, untrained CNN for 28x28 digits: (N, 1, 28, 28) images -> (N, 10) logits."""
    def conv_block(channels_in, channels_out):
        # a 3x3 convolution with padding 1 keeps the size; 2x2 max pooling halves it
        return [nn.Conv2d(channels_in, channels_out, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(channels_out), nn.AvgPool2d(2)]

    side = 28
    for _ in range(3):
        side = conv_output_size(conv_output_size(side, 3, p=1), 2, s=2)  # 28 -> 14 -> 7 -> 3
    return nn.Sequential(
        *conv_block(1, 16),  # (N, 16, 14, 14)
        *conv_block(16, 32),  # (N, 32, 7, 7)
        *conv_block(32, 64),  # (N, 64, 3, 3)
        nn.Flatten(),  # (N, 576)
        nn.Dropout(0.2),
        nn.Linear(64 * side * side, 10),  # (N, 10) logits
    )
