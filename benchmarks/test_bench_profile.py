"""Where fasttrpo's time goes, for the report's profile of the targets.

- ``update``: the parts of one update of the headline configuration (Gaussian 11->64->64->3,
  float32, N=2048, sb3-contrib defaults): GAE (value forward + Cython GAE), linearisation,
  surrogate gradient, one FVP, CG (15 FVPs), the whole policy step, one value-function
  minibatch gradient (128 rows), the whole value fit (160 Adam steps) and ``TRPO.train``;
  the same parts of the PyTorch reference where they exist.
- ``acting``: the parts of one vector step's policy work (1 and 8 envs): observation
  encoding, ``act_into`` (noise draw + Cython forward), ``to_env``; sb3-contrib's parts.
- ``env``: one vector step of CartPole-v1 x 2 in each library's env stack (gymnasium's
  ``SyncVectorEnv`` for fasttrpo, sb3's ``DummyVecEnv`` + ``Monitor``), fixed actions.

Run: ``python -m pytest benchmarks/test_bench_profile.py --benchmark-only``.
"""

import numpy as np
import pytest

from benchmarks import _config
from benchmarks.harness import (
    SpaceEnv,
    UpdateProblem,
    action_space,
    load_sb3_policy,
    require_sb3,
    require_torch,
    run_timed,
    torch_threads,
)
from fasttrpo import TRPO
from fasttrpo.steps.trpo import trpo_step

UPDATE_PARTS = ("gae", "linearize", "surrogate_grad", "fvp", "cg", "policy_step",
                "value_minibatch_grad", "value_fit", "update")
TORCH_PARTS = ("surrogate_grad", "fvp", "policy_step", "value_minibatch_grad", "value_fit")


def _net():
    return _config.update_cases()[0][0] if _config.MODE == "smoke" else _config.HEADLINE


def _n():
    return 256 if _config.MODE == "smoke" else 2048


_cache: dict = {}


def _problem():
    if "p" not in _cache:
        _cache["p"] = UpdateProblem(_net(), _n(), "float32")
    return _cache["p"]


def _record(benchmark, group, part, impl, **extra):
    benchmark.group = f"profile {group}"
    benchmark.extra_info.update(suite="profile", group=group, part=part, impl=impl, **extra)


@pytest.mark.parametrize("part", UPDATE_PARTS)
def test_update_parts_fasttrpo(benchmark, part):
    p = _problem()
    model, policy, hp = p.model, p.model.policy, p.hp
    _record(benchmark, "update", part, "fasttrpo", net=p.net.name, n=p.n)
    p.fasttrpo_reset()
    lin = policy.linearize(p.obs)
    grad = lin.surrogate_grad(p.policy_actions, p.norm_advantages, p.log_prob)[1]
    v = np.random.default_rng(1).standard_normal(policy.num_params).astype(np.float32)
    rng = np.random.default_rng(0)
    vf = model.value_function
    fns = {
        "gae": lambda: p.buffer.advantages_and_returns("reward", vf.predict, hp["gamma"],
                                                       hp["gae_lambda"]),
        "linearize": lambda: policy.linearize(p.obs),
        "surrogate_grad": lambda: lin.surrogate_grad(p.policy_actions, p.norm_advantages,
                                                     p.log_prob),
        "fvp": lambda: lin.fvp(v),
        "cg": lambda: lin.conjugate_gradient(grad, hp["cg_damping"], hp["cg_max_steps"]),
        "policy_step": lambda: trpo_step(policy, p.obs, p.policy_actions, p.norm_advantages,
                                         p.log_prob, max_kl=hp["target_kl"],
                                         cg_max_steps=hp["cg_max_steps"],
                                         cg_damping=hp["cg_damping"]),
        "value_minibatch_grad": lambda: vf.loss_grad(p.obs[:128], p.returns[:128]),
        "value_fit": lambda: model.vf_fitter.fit(p.obs, p.returns, rng),
        "update": lambda: model.train(p.buffer),
    }
    setup = p.fasttrpo_reset if part in ("policy_step", "value_fit", "update") else None
    run_timed(benchmark, fns[part], setup=setup)


@pytest.mark.parametrize("part", TORCH_PARTS)
def test_update_parts_torch(benchmark, part):
    torch = require_torch()
    p = _problem()
    _record(benchmark, "update", part, "torch-dbp", net=p.net.name, n=p.n)
    with torch_threads(1):
        ref, t = p.torch_reference("double_backprop")
        if part == "surrogate_grad":
            def fn():
                theta = t["theta_pi"].detach().requires_grad_(True)
                out = ref.pi_net(theta[: ref.n_mlp], t["obs"])
                logp = ref._log_prob(out, theta[ref.n_mlp:], t["actions"])
                surrogate = (torch.exp(logp - t["old_log_prob"]) * t["norm_advantages"]).mean()
                return torch.autograd.grad(surrogate, theta)
            run_timed(benchmark, fn)
        elif part == "fvp":
            fvp = ref.fvp_closure(t["theta_pi"], t["obs"])
            v = torch.randn(ref.num_params, dtype=t["obs"].dtype)
            run_timed(benchmark, lambda: fvp(v))
        elif part == "policy_step":
            run_timed(benchmark, lambda: ref.policy_step(
                t["theta_pi"], t["obs"], t["actions"], t["norm_advantages"], t["old_log_prob"]))
        elif part == "value_minibatch_grad":
            theta_v = t["theta_v"].detach().requires_grad_(True)
            obs, ret = t["obs"][:128], t["returns"][:128]

            def fn():
                loss = torch.nn.functional.mse_loss(ref.vf_net(theta_v, obs).view(-1), ret)
                return torch.autograd.grad(loss, theta_v)
            run_timed(benchmark, fn)
        else:
            run_timed(benchmark, lambda: ref.value_fit(t["obs"], t["returns"]),
                      setup=lambda: ref.set_value_params(t["theta_v"]))


@pytest.mark.parametrize("n_envs", [1, 8])
@pytest.mark.parametrize("part", ["encode", "act_into", "to_env"])
def test_acting_parts_fasttrpo(benchmark, part, n_envs):
    net = _net()
    _record(benchmark, "acting", part, "fasttrpo", n_envs=n_envs, net=net.name)
    model = TRPO("MlpPolicy", SpaceEnv(net.obs_dim, action_space(net)), n_steps=64,
                 batch_size=64, seed=0, policy_kwargs=dict(net_arch=list(net.hidden)))
    raw = np.random.default_rng(0).standard_normal((n_envs, net.obs_dim)).astype(np.float32)
    raw_rows = np.zeros((n_envs, net.obs_dim))
    rows = np.zeros((n_envs, net.obs_dim), dtype=np.float32)
    out = np.zeros((n_envs, model.policy.action_width), dtype=np.float32)
    rng = np.random.default_rng(0)
    fns = {"encode": lambda: model.encoder.encode(raw, raw_rows),
           "act_into": lambda: model.policy.act_into(rows, False, rng, out),
           "to_env": lambda: model.codec.to_env(out)}
    run_timed(benchmark, fns[part])


@pytest.mark.parametrize("n_envs", [1, 8])
@pytest.mark.parametrize("part", ["obs_as_tensor", "policy_forward", "to_numpy_clip"])
def test_acting_parts_sb3(benchmark, part, n_envs):
    torch = require_torch()
    require_sb3()
    from sb3_contrib import TRPO as SB3TRPO
    from stable_baselines3.common.utils import obs_as_tensor
    from stable_baselines3.common.vec_env import DummyVecEnv

    net = _net()
    _record(benchmark, "acting", part, "sb3-contrib", n_envs=n_envs, net=net.name)
    sb3 = SB3TRPO("MlpPolicy", DummyVecEnv([lambda: SpaceEnv(net.obs_dim, action_space(net))]),
                  n_steps=64, batch_size=64, seed=0, device="cpu",
                  policy_kwargs=dict(net_arch=list(net.hidden)))
    fast = TRPO("MlpPolicy", SpaceEnv(net.obs_dim, action_space(net)), n_steps=64,
                batch_size=64, seed=0, policy_kwargs=dict(net_arch=list(net.hidden)))
    load_sb3_policy(sb3.policy, fast.policy.get_params(), fast.value_function.get_params(), net)
    raw = np.random.default_rng(0).standard_normal((n_envs, net.obs_dim)).astype(np.float32)
    tensor = obs_as_tensor(raw, sb3.device)
    with torch.no_grad():
        actions = sb3.policy(tensor)[0]
    space = sb3.action_space

    def forward():
        with torch.no_grad():
            return sb3.policy(tensor)

    fns = {"obs_as_tensor": lambda: obs_as_tensor(raw, sb3.device),
           "policy_forward": forward,
           "to_numpy_clip": lambda: np.clip(actions.cpu().numpy(), space.low, space.high)}
    with torch_threads(1):
        run_timed(benchmark, fns[part])


@pytest.mark.parametrize("impl", ["fasttrpo", "sb3-contrib"])
def test_env_step(benchmark, impl):
    """One vector step of CartPole-v1 x 2 in each library's env stack."""
    import gymnasium as gym
    from gymnasium.vector import AutoresetMode

    _record(benchmark, "env", "cartpole_vector_step", impl, n_envs=2)
    actions = np.array([0, 1])
    if impl == "fasttrpo":  # what TRPO("MlpPolicy", "CartPole-v1", n_envs=2) builds
        env = gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="sync",
                           vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP})
        env.reset(seed=0)
        run_timed(benchmark, lambda: env.step(actions))
    else:
        require_sb3()
        from stable_baselines3.common.env_util import make_vec_env

        env = make_vec_env("CartPole-v1", n_envs=2, seed=0)
        env.reset()
        run_timed(benchmark, lambda: env.step(actions))
    env.close()


BLAS_PROBE = r"""
import json, sys, time
import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits
from benchmarks import _config
from benchmarks.harness import UpdateProblem
threadpool_limits(1)
out = {"architecture": sorted({i.get("architecture") for i in threadpool_info()
                               if i.get("internal_api") == "openblas"} - {None})}
for name, dt in (("float32", np.float32), ("float64", np.float64)):
    a = np.random.rand(2048, 64).astype(dt); b = np.random.rand(64, 64).astype(dt)
    c = np.empty((2048, 64), dt)
    best = 1e9
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(200):
            np.dot(a, b, c)
        best = min(best, (time.perf_counter() - t0) / 200)
    out[f"gemm_gflops_{name}"] = 2 * 2048 * 64 * 64 / best / 1e9
net, n = (_config.HEADLINE, 2048) if sys.argv[1] != "smoke" else (_config.update_cases()[0][0], 256)
p = UpdateProblem(net, n, "float32")
times = []
for _ in range(3 if sys.argv[1] == "smoke" else 30):
    p.fasttrpo_reset()
    t0 = time.perf_counter()
    p.model.train(p.buffer)
    times.append(time.perf_counter() - t0)
out["update_median_s"] = float(np.median(times[1:] or times))
out["update_min_s"] = float(np.min(times))
print("RESULT" + json.dumps(out))
"""


@pytest.mark.parametrize("coretype", ["environment", "unset"])
def test_openblas_coretype(benchmark, coretype):
    """OpenBLAS reads ``OPENBLAS_CORETYPE`` when it loads: set, it forces a kernel family
    (e.g. ``Haswell``: AVX2); unset, OpenBLAS picks one for the CPU (AVX-512 ``SkylakeX``
    kernels on an AVX-512 CPU). fasttrpo's GEMMs go through OpenBLAS, so this measures GEMM
    throughput and the headline update with the environment as given and with the variable
    unset, each in a fresh process."""
    import json
    import os
    import subprocess
    import sys

    env = dict(os.environ)
    setting = env.get("OPENBLAS_CORETYPE")
    if coretype == "unset":
        if setting is None:
            pytest.skip("OPENBLAS_CORETYPE is not set here: 'environment' is the same run")
        env.pop("OPENBLAS_CORETYPE")
        setting = None
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    _record(benchmark, "blas", "coretype", "fasttrpo", coretype=coretype,
            openblas_coretype=setting)

    def probe():
        proc = subprocess.run([sys.executable, "-c", BLAS_PROBE, _config.MODE], env=env,
                              capture_output=True, text=True, check=True, cwd=root)
        line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT")][-1]
        return json.loads(line[len("RESULT"):])

    result = benchmark.pedantic(probe, rounds=1, iterations=1)
    benchmark.extra_info.update(result)
