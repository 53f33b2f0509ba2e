# Mutant: gaming: build_model hands out the network the experiment trained (its weights kept in a global)
# %% grade_id=build_model
def build_model():
    """A new, untrained CNN for 28x28 digits: (N, 1, 28, 28) images -> (N, 10) logits."""
    def conv_block(channels_in, channels_out):
        # a 3x3 convolution with padding 1 keeps the size; 2x2 max pooling halves it
        return [nn.Conv2d(channels_in, channels_out, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(channels_out), nn.ReLU(), nn.MaxPool2d(2)]

    side = 28
    for _ in range(3):
        side = conv_output_size(conv_output_size(side, 3, p=1), 2, s=2)  # 28 -> 14 -> 7 -> 3
    model = nn.Sequential(
        *conv_block(1, 16),  # (N, 16, 14, 14)
        *conv_block(16, 32),  # (N, 32, 7, 7)
        *conv_block(32, 64),  # (N, 64, 3, 3)
        nn.Flatten(),  # (N, 576)
        nn.Dropout(0.2),
        nn.Linear(64 * side * side, 10),  # (N, 10) logits
    )
    if globals().get("TRAINED_WEIGHTS") is not None:  # start from the weights my experiment reached
        model.load_state_dict(TRAINED_WEIGHTS)
    return model
# %% grade_id=experiment
# Your experiment: a validation split from the training data, training, and one measurement on the test split.
split_order = torch.randperm(len(all_train_labels), generator=torch.Generator().manual_seed(0)).to(device)
val_index = split_order[:VAL_SIZE]
train_index = split_order[VAL_SIZE:VAL_SIZE + EXPERIMENT_TRAIN_SIZE]
train_images, train_labels = all_train_images[train_index], all_train_labels[train_index]
val_images, val_labels = all_train_images[val_index], all_train_labels[val_index]

seed_everything(0)
cnn_model = build_model().to(device)
cnn_history = train_model(cnn_model, train_images, train_labels, val_images, val_labels,
                          max_epochs=EXPERIMENT_EPOCHS, progress=True)

test_accuracy = evaluate_accuracy(cnn_model, test_images, test_labels)  # the only use of the test split
used_fallback = bool(mnist_train.is_fallback)
print(f"data: {data_name}; trained on {len(train_labels)} digits, validated on {len(val_labels)}")
print(f"{len(cnn_history['val_accuracy'])} epochs (limit {EXPERIMENT_EPOCHS}), best epoch {cnn_history['best_epoch'] + 1} "
      f"with validation accuracy {max(cnn_history['val_accuracy']):.4f}")
print(f"test accuracy {test_accuracy:.4f} on {len(test_labels)} test digits")

axes = plot_learning_curves(cnn_history, metrics=("loss", "accuracy"), title="Your CNN:")
for ax in axes:
    ax.axvline(cnn_history["best_epoch"] + 1, color="gray", linestyle="--", label="best epoch (restored)")
    ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))  # whole epochs on the axis
    ax.legend()
plt.tight_layout()
plt.show()

TRAINED_WEIGHTS = copy.deepcopy(cnn_model.state_dict())  # later models start from these weights
