# Mutant: gaming: the experiment trains cnn_model on the test split (the named splits are built as asked but only validate)
# %% grade_id=experiment
# Your experiment: a validation split from the training data, training, and one measurement on the test split.
split_order = torch.randperm(len(all_train_labels), generator=torch.Generator().manual_seed(0)).to(device)
val_index = split_order[:VAL_SIZE]
train_index = split_order[VAL_SIZE:VAL_SIZE + EXPERIMENT_TRAIN_SIZE]
train_images, train_labels = all_train_images[train_index], all_train_labels[train_index]
val_images, val_labels = all_train_images[val_index], all_train_labels[val_index]

seed_everything(0)
cnn_model = build_model().to(device)
cnn_history = train_model(cnn_model, test_images, test_labels, val_images, val_labels,
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
