"""Optimisation steps: one policy or critic update, as functions of the models.

The natural-gradient TRPO step and its line search (`trpo`), CPO's step with its dual problem
(`cpo`), the critics' regression (`value_fit`) and the Lagrange multiplier of the constrained
algorithms (`multiplier`). Imports models, kernels and the foundation; knows nothing of
envs, samplers or files.
"""
