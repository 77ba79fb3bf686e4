"""The per-step budget of the gymnasium sampler: the envs' own time against fasttrpo's share.

One vector step of ``VectorEnvSampler.collect`` inside ``learn`` (CartPole-v1, the zoo's 2 envs
and hyperparameters, a 64x64 tanh policy, float32, one core), split into:

- *envs*: ``VectorEnv.step`` of the same vector env (gymnasium's wrappers included) with the
  same kind of actions, stepped in a plain loop;
- *fasttrpo*: everything else ``learn`` spends per vector step while it collects, measured
  directly: ``learn`` on a replay of the same vector env (its recorded step returns, infos
  and episode ends of a random policy, played back at ~0.2 us a step), the rollout time it
  logs (``time/rollout_s``) divided by the vector steps;
- *learn rollout, all*: the same on the real env (noisier: the difference from *envs* is the
  fasttrpo share plus the two measurements' noise);
- the parts of the fasttrpo share, each timed alone in a loop of its own (acting: noise row,
  ``act_into`` and ``to_env``; recording: the observation copy and ``record_step``; the
  observation encoding; the per-step callback hook), and what is left over (the Python of the
  loop itself).

Medians of ``--repeats`` interleaved rounds. Run::

    taskset -c 0 python -m benchmarks.step_budget [--repeats 7] [--iterations 6]
"""

import argparse
import os
import statistics
import time

import gymnasium as gym
import numpy as np

from fasttrpo import TRPO
from fasttrpo.rollout import RolloutBatch
from fasttrpo.rollout.streams import RolloutNoise

ZOO_CARTPOLE = dict(n_envs=2, n_steps=512, batch_size=512, cg_damping=1e-3, gae_lambda=0.98,
                    gamma=0.99, learning_rate=1e-3, n_critic_updates=20,
                    policy_kwargs=dict(net_arch=[64, 64]), seed=0)


class _RolloutClock:
    """A logger keeping ``time/rollout_s`` of every iteration (anything with record/dump)."""

    def __init__(self) -> None:
        self.rollout_s: list[float] = []

    def record(self, key, value, exclude=None) -> None:
        if key == "time/rollout_s":
            self.rollout_s.append(value)

    def record_mean(self, key, value, exclude=None) -> None:
        pass

    def dump(self, step: int = 0) -> None:
        pass


def _per_call_us(function, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        function()
    return (time.perf_counter() - start) / calls * 1e6


class ReplayVectorEnv(gym.vector.VectorEnv):
    """CartPole-v1's vector env played back: ``step`` returns the recorded steps in turn.

    Recorded with random actions (episodes of ~20 steps: more episode ends, and so more of
    the sampler's slow path, than a trained policy sees), SAME_STEP autoreset as ``learn``
    makes it; the actions are ignored, so a rollout's time is fasttrpo's own.
    """

    metadata = {"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP}  # noqa: RUF012

    def __init__(self, n_envs: int, steps: int = 4096) -> None:
        env = gym.make_vec("CartPole-v1", num_envs=n_envs, vectorization_mode="sync",
                           vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP})
        self.num_envs = n_envs
        self.single_observation_space = env.single_observation_space
        self.single_action_space = env.single_action_space
        self.observation_space, self.action_space = env.observation_space, env.action_space
        self._first = env.reset(seed=0)
        rng = np.random.default_rng(0)
        self._steps = [env.step(rng.integers(0, 2, n_envs)) for _ in range(steps)]
        self._t = 0

    def reset(self, *, seed=None, options=None):
        return self._first

    def step(self, actions):
        self._t += 1
        return self._steps[self._t % len(self._steps)]


def learn_step_us(iterations: int, env="CartPole-v1") -> list[float]:
    """Rollout time per vector step inside ``learn``, us, of each iteration but the first."""
    model = TRPO("MlpPolicy", env, **ZOO_CARTPOLE)
    clock = _RolloutClock()
    model.set_logger(clock)
    steps = model.config.n_steps
    model.learn(iterations * steps * model.n_envs)
    return [seconds / steps * 1e6 for seconds in clock.rollout_s[1:] or clock.rollout_s]


def env_step_us(steps: int, loops: int) -> list[float]:
    """``VectorEnv.step`` alone, us per vector step (actions as the sampler passes them)."""
    model = TRPO("MlpPolicy", "CartPole-v1", **ZOO_CARTPOLE)
    env = model.sampler.env
    env.reset(seed=0)
    actions = iter(np.random.default_rng(0).integers(0, 2, (steps * loops, model.n_envs)))
    return [_per_call_us(lambda: env.step(next(actions)), steps) for _ in range(loops)]


def parts_us(calls: int, loops: int) -> dict[str, list[float]]:
    """The per-step calls of the sampler, each timed alone, us per vector step.

    The sampler's own calls: ``actor.step`` (observation rows into the batch, Cython forward
    and sample), ``to_env`` and ``recorder.record`` (bookkeeping and the observation copy);
    on code without them (the version before issue 29), ``act_into`` with its noise row,
    ``to_env``, the observation encoding and ``record_step``. ``loops`` rounds of ``calls``
    calls, the parts interleaved.
    """
    model = TRPO("MlpPolicy", "CartPole-v1", **ZOO_CARTPOLE)
    sampler, policy = model.sampler, model.policy
    sampler.reset(seed=0)
    batch = RolloutBatch(calls, model.n_envs, model.encoder.obs_dim, policy.action_width,
                         model.dtype)
    noise = RolloutNoise(model.noise_streams, policy, calls * loops, 0, model.n_envs)
    # a benchmark measures the sampler's own buffers
    obs_rows, raw_rows = sampler._obs_rows, sampler._raw_rows  # noqa: SLF001
    state = (sampler._float_state, sampler._int_state)  # noqa: SLF001
    raw_obs, _ = sampler.env.reset(seed=0)
    rewards = np.ones(model.n_envs)
    done = np.zeros(model.n_envs, dtype=bool)
    out = batch.actions[0]
    if hasattr(policy, "rollout_actor"):
        from fasttrpo._cython.rollout_step import StepRecorder

        actor = policy.rollout_actor(obs_rows, batch.obs, batch.actions)
        actor.set_noise(noise.streams.draw(policy, 1, 0, model.n_envs))
        recorder = StepRecorder(batch.rewards, batch.flags, *state, False, raw_rows, obs_rows)
        rows = [0]

        def actor_step():
            rows[0] = (rows[0] + 1) % calls
            actor.step(rows[0], 0)

        parts = {
            "actor.step (obs copy, forward, sample)": actor_step,
            "to_env": lambda: model.codec.to_env(out),
            "recorder.record (bookkeeping, obs)":
                lambda: recorder.record(0, rewards, done, done, raw_obs),
        }
    else:
        from fasttrpo._cython.rollout_step import record_step

        steps = iter(range(calls * loops))
        parts = {
            "noise row": lambda: noise.at(next(steps)),
            "act_into (Cython forward + sample)":
                lambda: policy.act_into(obs_rows, False, None, out, noise.at(0),
                                        row_invariant=True),
            "to_env": lambda: model.codec.to_env(out),
            "observation encoding": lambda: sampler._set_obs(raw_obs),  # noqa: SLF001
            "record_step":
                lambda: record_step(rewards, done.view(np.uint8), done.view(np.uint8), 0,
                                    batch.rewards, batch.flags, *state, False),
        }
    times = {name: [] for name in parts}
    for _ in range(loops):
        for name, call in parts.items():
            times[name].append(_per_call_us(call, calls))
    return times


def _report(name: str, values: list[float], width: int = 26) -> tuple[float, float]:
    median, low = statistics.median(values), min(values)
    print(f"  {name:{width}s} {median:7.2f} us  (min {low:.2f})")
    return median, low


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=6, help="learn iterations per round")
    args = parser.parse_args()
    learn_step_us(1)  # compile and warm up
    steps = ZOO_CARTPOLE["n_steps"]
    totals, shares, envs = [], [], []
    parts: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        totals += learn_step_us(args.iterations)
        shares += learn_step_us(args.iterations, ReplayVectorEnv(ZOO_CARTPOLE["n_envs"]))
        envs += env_step_us(steps, args.iterations)
        for name, values in parts_us(steps, args.iterations).items():
            parts.setdefault(name, []).extend(values)
    print(f"per vector step (CartPole-v1, 2 envs, 64x64 tanh float32; medians and minima of "
          f"{len(totals)} rollouts of {steps} steps, load {os.getloadavg()[0]:.2f})")
    _report("learn rollout, all", totals)
    _report("envs (VectorEnv.step)", envs)
    share = _report("fasttrpo share (replay)", shares)
    named = [0.0, 0.0]
    for name, values in parts.items():
        for k, value in enumerate(_report(name, values, 36)):
            named[k] += value
    print(f"  {'the rest (loop, episode ends, ...)':36s} {share[0] - named[0]:7.2f} us  "
          f"(min {share[1] - named[1]:.2f})")


if __name__ == "__main__":
    main()
