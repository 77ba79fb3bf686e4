"""The rl-baselines3-zoo face of the command line.

Hyperparameter files (`hyperparams`), the zoo's experiment layout (`layout`) and
learning-curve plots (`plot`). Top layer: it may import everything; the command line and the
benchmarks use it.
"""
