"""Safety-Gym navigation without safety-gymnasium: CPO on Point Goal 1 (needs the mujoco extra).

The robot is rewarded for approaching the goal and pays cost 1 per step inside a hazard. A
short run (the published figures train 1e7 steps): the point is the API, each named cost
reported beside the total, and the speed of the env.
"""

import time

import gymnasium as gym
import numpy as np

from fasttrpo import CPO
from fasttrpo.evaluation import evaluate_policy

TASK = "fasttrpo/SafetyPointGoal1-v0"

env = gym.make(TASK)
obs, info = env.reset(seed=0)
obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
print(f"{TASK}: observation {obs.shape}, costs {sorted(k for k in info if k.startswith('cost'))}")

model = CPO("MlpPolicy", TASK, cost_limit=25.0, n_envs=2, n_steps=2000, batch_size=1000,
            seed=0)
start = time.perf_counter()
model.learn(8_000)
print(f"trained {model.num_timesteps} steps in {time.perf_counter() - start:.1f} s")

returns, _, costs = evaluate_policy(model, TASK, n_eval_episodes=2, seed=1,
                                    return_episode_rewards=True, return_episode_costs=True,
                                    cost_keys=["cost_hazards", "cost"])
print(f"return {np.mean(returns):.2f}; cost (hazards, total) {np.mean(costs, axis=0)}")
