"""Models: the networks and what they compute, over the compiled kernels.

The MLP structure and parameter layout (`nets`, `parameters`), the policy with its
Fisher-vector product and line-search evaluation (`policies`), the critics
(`value_function`), running observation and reward statistics (`normalize`) and gymnasium
spaces mapped to encoders and heads (`spaces`). Imports the foundation and the kernels only.
"""
