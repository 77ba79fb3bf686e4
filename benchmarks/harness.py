"""Shared set-up of the benchmarks: one rollout buffer and the three learners on it.

``UpdateProblem`` builds a fasttrpo ``TRPO`` model on a stand-in env with the right spaces,
fills a ``RolloutBatch`` with random transitions (observations, actions sampled from the
policy, rewards, an episode end every 250 steps) and computes GAE with fasttrpo's value
function. The PyTorch reference and sb3-contrib's ``TRPO`` then get the same parameters and
the same data (advantages, returns, old log-probabilities), so each learner does the same
update from the same point. torch is imported lazily: the fasttrpo cases run without it.
"""

from __future__ import annotations

import copy
import time
from contextlib import contextmanager

import gymnasium as gym
import numpy as np
import pytest

from benchmarks import _config
from fasttrpo import TRPO
from fasttrpo.rollout import RolloutBatch

# sb3-contrib's TRPO defaults (and fasttrpo's): the update the suites time
# the PyTorch reference's step (torch_reference.py): the joint KL and sqrt(2 max_kl / x^T F x),
# so fasttrpo is set to the same (its defaults are sb3-contrib's; the cost is the same)
UPDATE_HP = dict(learning_rate=1e-3, batch_size=128, gamma=0.99, gae_lambda=0.95,
                 cg_max_steps=15, cg_damping=0.1, line_search_shrinking_factor=0.8,
                 line_search_max_iter=10, n_critic_updates=10, target_kl=0.01,
                 damped_step_length=False, kl_per_action_dim=False)
EPISODE_LENGTH = 250
#: UPDATE_HP keys sb3-contrib's constructor does not take (it always steps its own way)
FASTTRPO_ONLY_HP = ("damped_step_length", "kl_per_action_dim")


def require_torch():
    """Skip the calling test without the ``bench`` extra; returns the torch module."""
    return pytest.importorskip("torch", reason="needs the bench extra: pip install -e '.[bench]'")


def require_sb3():
    require_torch()
    pytest.importorskip("sb3_contrib", reason="needs the bench extra: pip install -e '.[bench]'")


@contextmanager
def torch_threads(n: int):
    """Run torch with ``n`` intra-op threads (restored afterwards)."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def run_timed(benchmark, fn, setup=None):
    """``benchmark.pedantic`` with rounds chosen from one calibration call (mode budget)."""
    if benchmark.disabled:  # smoke mode: pytest-benchmark runs it once, untimed
        return benchmark.pedantic(fn, setup=setup, rounds=1, iterations=1)
    budget, min_rounds, max_rounds = _config.time_budget()
    if setup is not None:
        setup()
    t0 = time.perf_counter()
    fn()  # calibration, also the warm-up
    elapsed = time.perf_counter() - t0
    rounds = int(min(max_rounds, max(min_rounds if elapsed < 2.0 else 3, budget / elapsed)))
    return benchmark.pedantic(fn, setup=setup, rounds=rounds, iterations=1)


class SpaceEnv(gym.Env):
    """An env with given spaces and nothing behind them (the update never steps it)."""

    def __init__(self, obs_dim: int, action_space: gym.Space) -> None:
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32)
        self.action_space = action_space

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(self.observation_space.shape, np.float32), {}

    def step(self, action):
        return np.zeros(self.observation_space.shape, np.float32), 0.0, False, False, {}


def action_space(net: _config.Net) -> gym.Space:
    if net.head == "gaussian":
        return gym.spaces.Box(-1.0, 1.0, (net.out_dim,), np.float32)
    return gym.spaces.Discrete(net.out_dim)


def net_label(net: _config.Net, n: int, dtype: str) -> str:
    return f"{net.name} N={n} {dtype}"


class UpdateProblem:
    """One batch of ``n`` transitions for ``net`` in ``dtype`` and the learners set up on it."""

    def __init__(self, net: _config.Net, n: int, dtype: str = "float32", seed: int = 0,
                 **hp) -> None:
        self.net, self.n, self.dtype_name = net, n, dtype
        self.dtype = np.dtype(dtype)
        self.hp = {**UPDATE_HP, **hp}
        self.model = TRPO("MlpPolicy", SpaceEnv(net.obs_dim, action_space(net)), n_steps=n,
                          dtype=dtype, seed=seed,
                          policy_kwargs=dict(net_arch=list(net.hidden),
                                             activation_fn=net.activation), **self.hp)
        policy = self.model.policy
        rng = np.random.default_rng(seed)
        buffer = RolloutBatch(n, 1, net.obs_dim, policy.action_width, self.dtype)
        buffer.obs[:, 0] = rng.standard_normal((n, net.obs_dim))
        buffer.actions[:, 0] = policy.act(buffer.obs[:, 0], rng=rng)
        buffer.rewards[:, 0] = rng.standard_normal(n)
        ends = (np.arange(n) + 1) % EPISODE_LENGTH == 0
        buffer.terminated[:, 0] = ends
        buffer.dones[:, 0] = ends
        buffer.last_obs[:] = rng.standard_normal((1, net.obs_dim))
        self.buffer = buffer
        advantages, returns = buffer.advantages_and_returns(
            "reward", self.model.value_function.predict, self.hp["gamma"], self.hp["gae_lambda"])
        self.obs = buffer.obs.reshape(n, -1)
        self.actions = buffer.actions.reshape(n, -1)
        self.advantages = advantages.reshape(-1).astype(self.dtype)
        self.returns = returns.reshape(-1).astype(self.dtype)
        self.values = self.model.value_function.predict(self.obs)
        self.log_prob = policy.log_prob(self.obs, self.policy_actions)
        adv = self.advantages.astype(np.float64)
        self.norm_advantages = ((adv - adv.mean()) / (adv.std() + 1e-8)).astype(self.dtype)
        self.theta_pi = policy.get_params()
        self.theta_v = self.model.value_function.get_params()

    @property
    def label(self) -> str:
        return net_label(self.net, self.n, self.dtype_name)

    @property
    def policy_actions(self):
        """Actions in the policy's format: (N, A) floats or (N,) class indices."""
        if self.net.head == "gaussian":
            return self.actions
        return self.actions[:, 0].astype(np.int64)

    # ---- fasttrpo ------------------------------------------------------------------------
    def fasttrpo_reset(self) -> None:
        """Back to the starting point: parameters, a fresh Adam, the same minibatch stream."""
        model = self.model
        model.policy.set_params(self.theta_pi)
        model.value_function.set_params(self.theta_v)
        model.vf_fitter.load_state_dict({})
        model.rng = np.random.default_rng(0)

    # ---- the PyTorch reference -----------------------------------------------------------
    def torch_reference(self, fvp: str):
        """``(TorchTRPO, tensors)`` with tensors: obs, actions, advantages (raw and
        normalised), returns, old log-probs, theta_pi, theta_v."""
        import torch

        from benchmarks import torch_reference as tr

        dt = tr.torch_dtype(self.dtype)
        ref = tr.TorchTRPO(
            self.net.obs_dim, self.net.out_dim, self.net.hidden, head=self.net.head,
            activation=self.net.activation, dtype=dt, fvp=fvp, max_kl=self.hp["target_kl"],
            cg_max_steps=self.hp["cg_max_steps"], cg_damping=self.hp["cg_damping"],
            shrink=self.hp["line_search_shrinking_factor"],
            ls_iters=self.hp["line_search_max_iter"], learning_rate=self.hp["learning_rate"],
            n_epochs=self.hp["n_critic_updates"], batch_size=self.hp["batch_size"])
        actions = (tr.to_torch(self.actions, dt) if self.net.head == "gaussian"
                   else tr.to_torch(self.policy_actions).to(torch.int64))
        tensors = dict(
            obs=tr.to_torch(self.obs, dt), actions=actions,
            advantages=tr.to_torch(self.advantages, dt),
            norm_advantages=tr.to_torch(self.norm_advantages, dt),
            returns=tr.to_torch(self.returns, dt), old_log_prob=tr.to_torch(self.log_prob, dt),
            theta_pi=tr.to_torch(self.theta_pi, dt), theta_v=tr.to_torch(self.theta_v, dt))
        ref.set_value_params(tensors["theta_v"])
        return ref, tensors

    # ---- sb3-contrib ---------------------------------------------------------------------
    def sb3_model(self):
        """An sb3-contrib TRPO with this problem's parameters and its rollout buffer filled
        with the same data, and a function that restores the parameters and optimiser.
        float32 only: sb3 casts observations to float32 in ``preprocess_obs``."""
        import torch
        from sb3_contrib import TRPO as SB3TRPO
        from stable_baselines3.common.logger import Logger
        from stable_baselines3.common.vec_env import DummyVecEnv

        net, n = self.net, self.n
        activation = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}[net.activation]
        env = DummyVecEnv([lambda: SpaceEnv(net.obs_dim, action_space(net))])
        model = SB3TRPO("MlpPolicy", env, n_steps=n, seed=0, device="cpu",
                        policy_kwargs=dict(net_arch=list(net.hidden), activation_fn=activation),
                        **{k: v for k, v in self.hp.items() if k not in FASTTRPO_ONLY_HP})
        model.set_logger(Logger(None, []))
        load_sb3_policy(model.policy, self.theta_pi, self.theta_v, net)
        rb = model.rollout_buffer
        rb.reset()
        rb.observations[:, 0] = self.obs
        rb.actions[:, 0] = self.actions
        rb.returns[:, 0] = self.returns
        rb.advantages[:, 0] = self.advantages
        rb.values[:, 0] = self.values
        rb.log_probs[:, 0] = self.log_prob
        rb.episode_starts[:, 0] = np.roll(self.buffer.dones[:, 0], 1)
        rb.pos, rb.full = n, True
        state = (copy.deepcopy(model.policy.state_dict()),
                 copy.deepcopy(model.policy.optimizer.state_dict()))

        def reset():
            model.policy.load_state_dict(state[0])
            model.policy.optimizer.load_state_dict(state[1])

        return model, reset


def load_sb3_policy(policy, theta_pi, theta_v, net: _config.Net) -> None:
    """Copy fasttrpo flat parameters into an sb3 ``ActorCriticPolicy`` (W -> weight = W.T)."""
    import torch

    def linears(seq):
        return [m for m in seq if isinstance(m, torch.nn.Linear)]

    def load(layers, theta):
        offset = 0
        for layer in layers:
            fan_out, fan_in = layer.weight.shape
            w = theta[offset : offset + fan_in * fan_out].reshape(fan_in, fan_out)
            offset += fan_in * fan_out
            b = theta[offset : offset + fan_out]
            offset += fan_out
            with torch.no_grad():
                layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(w.T)))
                layer.bias.copy_(torch.from_numpy(np.asarray(b)))
        return offset

    used = load(linears(policy.mlp_extractor.policy_net) + [policy.action_net], theta_pi)
    if net.head == "gaussian":
        with torch.no_grad():
            policy.log_std.copy_(torch.from_numpy(np.asarray(theta_pi[used:])))
    load(linears(policy.mlp_extractor.value_net) + [policy.value_net], theta_v)


class NullVectorEnv(gym.vector.VectorEnv):
    """A gymnasium vector env whose ``step`` costs ~nothing (SAME_STEP autoreset, episodes
    truncated every 200 steps), so a rollout's time is the library's own per-step work."""

    metadata = {"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP}  # noqa: RUF012

    def __init__(self, num_envs: int, obs_dim: int, action_space: gym.Space) -> None:
        self.num_envs = num_envs
        self.single_observation_space = gym.spaces.Box(-1, 1, (obs_dim,), np.float32)
        self.single_action_space = action_space
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space,
                                                              num_envs)
        self.action_space = gym.vector.utils.batch_space(action_space, num_envs)
        self._obs = np.zeros((num_envs, obs_dim), np.float32)
        self._reward = np.ones(num_envs)
        self._false = np.zeros(num_envs, bool)
        self._true = np.ones(num_envs, bool)
        self._final = {"final_obs": self._obs, "_final_obs": self._true}
        self._t = 0

    def reset(self, *, seed=None, options=None):
        return self._obs, {}

    def step(self, actions):
        self._t += 1
        if self._t % 200:
            return self._obs, self._reward, self._false, self._false, {}
        return self._obs, self._reward, self._false, self._true, self._final


def null_sb3_vec_env(num_envs: int, obs_dim: int, action_space: gym.Space):
    """The same null env as an sb3 ``VecEnv`` (truncation every 200 steps, with the
    ``terminal_observation`` / ``TimeLimit.truncated`` infos sb3's envs give)."""
    from stable_baselines3.common.vec_env.base_vec_env import VecEnv

    class NullSB3VecEnv(VecEnv):
        def __init__(self):
            super().__init__(num_envs, gym.spaces.Box(-1, 1, (obs_dim,), np.float32),
                             action_space)
            self._obs = np.zeros((num_envs, obs_dim), np.float32)
            self._t = 0
            self._none = [{} for _ in range(num_envs)]
            self._final = [{"terminal_observation": self._obs[i], "TimeLimit.truncated": True}
                           for i in range(num_envs)]

        def reset(self):
            return self._obs

        def step_async(self, actions):
            pass

        def step_wait(self):
            self._t += 1
            done = self._t % 200 == 0
            return (self._obs, np.ones(num_envs, np.float32), np.full(num_envs, done),
                    self._final if done else self._none)

        def close(self):
            pass

        def get_attr(self, attr_name, indices=None):
            return [None] * num_envs

        def set_attr(self, attr_name, value, indices=None):
            pass

        def env_method(self, method_name, *args, indices=None, **kwargs):
            return [None] * num_envs

        def env_is_wrapped(self, wrapper_class, indices=None):
            return [False] * num_envs

    return NullSB3VecEnv()
