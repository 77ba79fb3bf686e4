"""Agent-level timings: policy overhead per vector step, and end-to-end training runs with
rl-baselines3-zoo hyperparameters (one thread).

Run: ``python -m pytest benchmarks/test_bench_agent.py --benchmark-only -s``
"""

import time

import gymnasium as gym
import pytest

from benchmarks import _config
from benchmarks.harness import NullVectorEnv  # step costs ~nothing: time is the policy's
from fasttrpo import TRPO
from fasttrpo.evaluation import evaluate_policy
from fasttrpo.rollout import RolloutBatch
from fasttrpo.zoo.hyperparams import load_zoo_hyperparams, zoo_to_trpo_kwargs

ZOO = "hyperparams/trpo.yml"


@pytest.mark.parametrize("n_envs", [1, 8])
@pytest.mark.parametrize("space", ["box3", "discrete2"])
def test_policy_overhead_per_vector_step(benchmark, n_envs, space):
    """fasttrpo's cost per vector step outside env.step (target <= 10 us for 1-8 envs)."""
    action_space = gym.spaces.Box(-1, 1, (3,)) if space == "box3" else gym.spaces.Discrete(2)
    env = NullVectorEnv(n_envs, 11 if space == "box3" else 4, action_space)
    model = TRPO("MlpPolicy", env, n_steps=1000, seed=0)
    collector = model.sampler
    collector.reset(seed=0)
    buffer = RolloutBatch(1000, n_envs, model.encoder.obs_dim, model.policy.action_width,
                          model.dtype)
    benchmark(collector.collect, model.policy, buffer, model.noise_streams)
    if benchmark.stats is None:  # --benchmark-disable (CI smoke): ran once, nothing timed
        return
    per_step_us = benchmark.stats.stats.median / 1000 * 1e6
    benchmark.extra_info["per_vector_step_us"] = per_step_us
    print(f"\n{space} n_envs={n_envs}: {per_step_us:.2f} us per vector step")


def zoo_run(env_id, seed, timesteps=None):
    kwargs, settings = zoo_to_trpo_kwargs(load_zoo_hyperparams(ZOO, env_id))
    if _config.MODE == "smoke":  # CI: exercise the code path, not the learning
        timesteps = 2 * settings["n_envs"] * kwargs.get("n_steps", 2048)
    model = TRPO("MlpPolicy", env_id, n_envs=settings["n_envs"], seed=seed, **kwargs)
    t0 = time.perf_counter()
    model.learn(timesteps or settings["n_timesteps"])
    wall = time.perf_counter() - t0
    mean, std = evaluate_policy(model, env_id, n_eval_episodes=10, deterministic=True, seed=1000)
    return wall, mean, std


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_end_to_end_zoo(benchmark, env_id, seed):
    """learn() wall time with the zoo's TRPO hyperparameters and 2 envs, then a deterministic
    10-episode evaluation (Pendulum without the zoo's gSDE, which fasttrpo lacks)."""
    zoo_run(env_id, 99, timesteps=2048)  # compile / warm the kernels outside the timing
    wall, mean, std = benchmark.pedantic(zoo_run, args=(env_id, seed), rounds=1, iterations=1)
    benchmark.extra_info.update(learn_wall_s=wall, eval_mean=mean, eval_std=std)
    print(f"\n{env_id} seed {seed}: learn {wall:.2f} s, eval {mean:.1f} +- {std:.1f}")


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_end_to_end_hopper(benchmark, seed):
    """Hopper-v5 1e6 steps with the zoo's MuJoCo entry (needs ``mujoco``; ~3 min a seed)."""
    pytest.importorskip("mujoco")
    wall, mean, std = benchmark.pedantic(zoo_run, args=("Hopper-v5", seed), rounds=1, iterations=1)
    benchmark.extra_info.update(learn_wall_s=wall, eval_mean=mean, eval_std=std)
    print(f"\nHopper-v5 seed {seed}: learn {wall:.1f} s, eval {mean:.1f} +- {std:.1f}")
