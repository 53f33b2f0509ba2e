# Mutant: the baseline cell stores the final training accuracies from the history instead of held-out accuracies
# %% grade_id=baseline_comparison
params_logreg, history_logreg = train(X_circles_train, y_circles_train, hidden_sizes=[], epochs=EPOCHS, batch_size=BATCH_SIZE,
                                      lr=LR, milestones=MILESTONES, gamma=GAMMA, seed=0)
params_mlp, history_mlp = train(X_circles_train, y_circles_train, hidden_sizes=HIDDEN, epochs=EPOCHS, batch_size=BATCH_SIZE,
                                lr=LR, milestones=MILESTONES, gamma=GAMMA, seed=0)
logreg_test_accuracy = history_logreg["accuracy"][-1]
mlp_test_accuracy = history_mlp["accuracy"][-1]
fig, (ax_logreg, ax_mlp) = plt.subplots(1, 2, figsize=(11, 4))
plot_decision_boundary(lambda points: predict(params_logreg, points), X_circles_test, y_circles_test, ax=ax_logreg,
                       title=f"Logistic regression: accuracy {logreg_test_accuracy:.2f}")
plot_decision_boundary(lambda points: predict(params_mlp, points), X_circles_test, y_circles_test, ax=ax_mlp,
                       title=f"MLP: accuracy {mlp_test_accuracy:.2f}")
plt.show()
