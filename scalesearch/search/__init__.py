"""The phi = 1 search: candidates under the cost constraint, the Optuna study and its
workers, storage and recovery of trials whose worker died."""
