"""Envs on Ray actors (pip install "fasttrpo[ray,mujoco]"): the learner and its update unchanged.

Starts a local Ray when none is running; trains Hopper-v5 for 1e6 steps.
"""

from fasttrpo import TRPO
from fasttrpo.rollout import RaySampler

sampler = RaySampler("Hopper-v5", n_workers=4, envs_per_worker=2)   # 8 envs on 4 actors
model = TRPO("MlpPolicy", sampler, n_envs=8, seed=0, verbose=1).learn(1_000_000)
# or: model.set_sampler(RaySampler(...)); address="ray://head:10001" joins a cluster
