"""Safe RL: CPO keeps the expected episode cost under a limit while TRPO ignores it."""

import numpy as np

from fasttrpo import CPO, TRPO

costs = {}
for algorithm in (TRPO, CPO):
    kwargs = dict(cost_limit=10.0) if algorithm is CPO else {}
    model = algorithm("MlpPolicy", "fasttrpo/SafetyPointVelocity-v0", n_envs=2, n_steps=500,
                      batch_size=100, seed=0, **kwargs)
    model.learn(30_000)
    costs[algorithm.__name__] = np.mean([e["c"] for e in model.ep_info_buffer])
    print(f"{algorithm.__name__}: episode return "
          f"{np.mean([e['r'] for e in model.ep_info_buffer]):.1f}, "
          f"episode cost {costs[algorithm.__name__]:.1f} (limit 10)")
