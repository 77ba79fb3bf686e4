"""Acting: the policy's cost per vector-env step, for 1, 8 and 64 envs (float32, one thread).

What each library does between ``env.step`` calls during a rollout:

- ``fasttrpo``: the rollout collector's work: encode the observations into the policy's rows,
  ``policy.act_into`` (Cython forward + sampling, no JIT) and ``codec.to_env`` (clip / cast);
- ``fasttrpo predict``: the public ``TRPO.predict(obs)`` (input checks included);
- ``sb3-contrib``: what ``OnPolicyAlgorithm.collect_rollouts`` does per step: ``obs_as_tensor``,
  ``policy(obs)`` under ``no_grad`` (actor and critic forward, sample, log-prob),
  ``.cpu().numpy()`` and ``np.clip`` (the critic forward is part of sb3's per-step cost:
  fasttrpo evaluates the value function once per rollout, in the update);
- ``torch forward+sample``: the least torch can do: ``from_numpy``, an ``nn.Sequential``
  forward and a sample under ``inference_mode``, back to numpy.

Run: ``python -m pytest benchmarks/test_bench_acting.py --benchmark-only``.
"""

import itertools

import numpy as np
import pytest

from benchmarks import _config
from benchmarks.harness import (
    NullVectorEnv,
    SpaceEnv,
    action_space,
    load_sb3_policy,
    null_sb3_vec_env,
    require_sb3,
    require_torch,
    run_timed,
    torch_threads,
)
from fasttrpo import TRPO
from fasttrpo.rollout import RolloutBatch

IMPLS = ("fasttrpo", "fasttrpo predict", "sb3-contrib", "torch forward+sample")
LOOPS = ("fasttrpo rollout loop", "sb3-contrib rollout loop")
LOOP_STEPS = 1000


def _params():
    return [pytest.param(net, n_envs, impl, id=f"{net.name.replace(' ', '_')}-E{n_envs}-{impl}")
            for net in _config.acting_nets() for n_envs in _config.acting_envs()
            for impl in IMPLS]


def _fasttrpo_model(net):
    return TRPO("MlpPolicy", SpaceEnv(net.obs_dim, action_space(net)), n_steps=64,
                batch_size=64, seed=0,
                policy_kwargs=dict(net_arch=list(net.hidden), activation_fn=net.activation))


@pytest.mark.parametrize(("net", "n_envs", "impl"), _params())
def test_acting(benchmark, net, n_envs, impl):
    benchmark.group = f"acting {net.name} E={n_envs}"
    benchmark.extra_info.update(suite="acting", net=net.name, n_envs=n_envs, impl=impl,
                                dtype="float32", threads=1)
    raw_obs = np.random.default_rng(0).standard_normal((n_envs, net.obs_dim)).astype(np.float32)
    model = _fasttrpo_model(net)
    if impl == "fasttrpo":
        policy, encoder, codec = model.policy, model.encoder, model.codec
        rng = np.random.default_rng(0)
        raw_rows = np.zeros((n_envs, net.obs_dim))
        rows = np.zeros((n_envs, net.obs_dim), dtype=policy.dtype)
        out = np.zeros((n_envs, policy.action_width), dtype=policy.dtype)

        def step():  # RolloutCollector: _set_obs, then act_into and to_env
            encoder.encode(raw_obs, raw_rows)
            rows[:] = raw_rows
            return codec.to_env(policy.act_into(rows, False, rng, out))

        run_timed(benchmark, step)
        return
    if impl == "fasttrpo predict":
        run_timed(benchmark, lambda: model.predict(raw_obs, deterministic=False))
        return
    torch = require_torch()
    if impl == "sb3-contrib":
        require_sb3()
        from sb3_contrib import TRPO as SB3TRPO
        from stable_baselines3.common.utils import obs_as_tensor
        from stable_baselines3.common.vec_env import DummyVecEnv

        sb3 = SB3TRPO("MlpPolicy", DummyVecEnv([lambda: SpaceEnv(net.obs_dim, action_space(net))]),
                      n_steps=64, batch_size=64, seed=0, device="cpu",
                      policy_kwargs=dict(net_arch=list(net.hidden)))
        load_sb3_policy(sb3.policy, model.policy.get_params(),
                        model.value_function.get_params(), net)
        policy, space = sb3.policy, sb3.action_space
        policy.set_training_mode(False)

        def step():  # OnPolicyAlgorithm.collect_rollouts, per step
            with torch.no_grad():
                obs_tensor = obs_as_tensor(raw_obs, sb3.device)
                actions, _values, _log_probs = policy(obs_tensor)
            actions = actions.cpu().numpy()
            if net.head == "gaussian":
                return np.clip(actions, space.low, space.high)
            return actions

        with torch_threads(1):
            run_timed(benchmark, step)
        return
    # the least torch can do
    act = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}[net.activation]
    sizes = (net.obs_dim, *net.hidden, net.out_dim)
    layers = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(act())
    module = torch.nn.Sequential(*layers)
    std = torch.ones(net.out_dim)
    low, high = -1.0, 1.0

    def step():
        with torch.inference_mode():
            out = module(torch.from_numpy(raw_obs))
            if net.head == "gaussian":
                return np.clip((out + std * torch.randn_like(out)).numpy(), low, high)
            return torch.multinomial(torch.softmax(out, 1), 1).numpy()[:, 0]

    with torch_threads(1):
        run_timed(benchmark, step)


def _loop_params():
    steps = 64 if _config.MODE == "smoke" else LOOP_STEPS
    return [pytest.param(net, n_envs, impl, steps,
                         id=f"{net.name.replace(' ', '_')}-E{n_envs}-{impl.replace(' ', '_')}")
            for net in _config.acting_nets() for n_envs in _config.acting_envs()
            for impl in LOOPS]


@pytest.mark.parametrize(("net", "n_envs", "impl", "steps"), _loop_params())
def test_rollout_loop(benchmark, net, n_envs, impl, steps):
    """A whole rollout of ``steps`` vector steps against a null env (its step costs ~nothing):
    each library's complete per-step work (policy, conversions, buffer writes, episode
    bookkeeping, value bootstrap at truncations). sb3-contrib's end-of-rollout GAE is switched
    off (fasttrpo does GAE in the update). The report divides by ``steps``."""
    benchmark.group = f"rollout loop {net.name} E={n_envs}"
    benchmark.extra_info.update(suite="acting", net=net.name, n_envs=n_envs, impl=impl,
                                dtype="float32", threads=1, per_steps=steps)
    if impl.startswith("fasttrpo"):
        env = NullVectorEnv(n_envs, net.obs_dim, action_space(net))
        model = TRPO("MlpPolicy", env, n_steps=steps, seed=0, batch_size=64,
                     policy_kwargs=dict(net_arch=list(net.hidden)))
        collector = model.sampler
        collector.reset(seed=0)
        buffer = RolloutBatch(steps, n_envs, model.encoder.obs_dim, model.policy.action_width,
                              model.dtype)
        run_timed(benchmark, lambda: collector.collect(model.policy, buffer, model.noise_streams))
        return
    require_torch()
    require_sb3()
    from sb3_contrib import TRPO as SB3TRPO

    sb3 = SB3TRPO("MlpPolicy", null_sb3_vec_env(n_envs, net.obs_dim, action_space(net)),
                  n_steps=steps, batch_size=64, seed=0, device="cpu",
                  policy_kwargs=dict(net_arch=list(net.hidden)))
    _, callback = sb3._setup_learn(steps * n_envs * 1000, callback=None)
    callback.on_training_start(locals(), globals())
    sb3.rollout_buffer.compute_returns_and_advantage = lambda last_values, dones: None
    with torch_threads(1):
        run_timed(benchmark, lambda: sb3.collect_rollouts(sb3.env, callback, sb3.rollout_buffer,
                                                          steps))
