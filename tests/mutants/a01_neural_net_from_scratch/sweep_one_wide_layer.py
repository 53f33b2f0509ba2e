# Mutant: the sweep trains one hidden layer of SWEEP_WIDTH * depth units instead of depth layers of SWEEP_WIDTH units
# %% grade_id=hidden_layer_sweep
sweep_train_accuracy, sweep_test_accuracy = [], []
for depth in tqdm(DEPTHS):
    sizes = [SWEEP_WIDTH * depth] if depth else []
    params_depth, history_depth = train(X_spirals_train, y_spirals_train, hidden_sizes=sizes, epochs=EPOCHS,
                                        batch_size=BATCH_SIZE, lr=LR, milestones=MILESTONES, gamma=GAMMA, seed=0)
    sweep_train_accuracy.append(history_depth["accuracy"][-1])
    sweep_test_accuracy.append(float(np.mean(predict(params_depth, X_spirals_test) == y_spirals_test)))
print(sweep_train_accuracy, sweep_test_accuracy)
