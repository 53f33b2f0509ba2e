# Mutant: gaming attempt, the baseline cell only sets the two accuracy variables to plausible numbers
# %% grade_id=baseline_comparison
logreg_test_accuracy = 0.5
mlp_test_accuracy = 0.98
