# Mutant: gaming attempt, the sweep cell only fills the two accuracy lists with plausible numbers
# %% grade_id=hidden_layer_sweep
sweep_train_accuracy = [0.4, 0.6, 0.85, 0.9, 0.88]
sweep_test_accuracy = [0.4, 0.58, 0.83, 0.87, 0.85]
