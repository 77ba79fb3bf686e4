"""The trust-region step's defaults, in one place: sb3-contrib's TRPO.

Read by `fasttrpo.steps.trpo.trpo_step` and `fasttrpo.steps.cpo.cpo_step` (their keyword
defaults) and by `fasttrpo.config.TRPOConfig` (its fields' defaults), so a direct call of a
step and a model built with default hyperparameters take the same step. Standard library only.
"""

#: trust-region radius: the mean KL of an accepted step (``target_kl`` in the config)
MAX_KL = 0.01
#: conjugate-gradient iterations
CG_MAX_STEPS = 15
#: damping added to the Fisher matrix in CG: (F + damping I) x = g
CG_DAMPING = 0.1
#: the line search's backtracking factor
LINE_SEARCH_SHRINKING_FACTOR = 0.8
#: line-search candidates tried
LINE_SEARCH_MAX_ITER = 10
#: step length from x^T (F + damping I) x, as sb3-contrib (False: x^T F x)
DAMPED_STEP_LENGTH = True
#: the most cost constraints a constrained step takes (its small dual problem is solved
#: exactly over 2^k active sets, `fasttrpo.steps.small_qp`)
MAX_CONSTRAINTS = 8
