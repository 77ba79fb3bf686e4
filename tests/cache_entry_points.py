"""fasttrpo's public entry points, each runnable in a process of its own (Numba cache tests).

``python tests/cache_entry_points.py OUT_DIR NAME [NAME ...]`` runs the named entry points in
this process, in order, and writes ``OUT_DIR/NAME.npz`` with what each computed (outputs,
final parameters, actions). The cross-process cache tests (``test_numba_cache.py``) start
many such processes on one ``NUMBA_CACHE_DIR`` and compare their files with those of a
process that compiled everything itself on an empty cache.

Names:

- ``policy-<float32|float64>``: the policy API on a 2048-row batch: forward, log_prob,
  surrogate_grad, fisher_vector_product, linearize + conjugate_gradient (README's block).
- ``fvp-<dtype>``: the bug report's first command: one ``fisher_vector_product``.
- ``fvp_threads-<dtype>``: the linearisation's FVP and CG with the row blocks on 2 threads.
- ``<trpo|cpo|lag>-<gym|compiled>-<n_threads>-<dtype>``: ``learn`` for 2 rollouts of 2 x 256
  steps, then ``predict`` and the numpy runtime on the exported policy. TRPO on CartPole-v1
  (``compiled``: its compiled port), CPO / TRPO-Lagrangian on the point-velocity safety task
  (``compiled``: ``compiled_point.point_env``, a compiled env with a cost, cached like a
  user's).
- ``cli``: ``fasttrpo train CartPole-v1`` with the zoo file, cut to 2048 steps.
- ``gsde-<dtype>``: TRPO with gSDE on Pendulum-v1, 2 threads (gSDE's kernels of its own and
  its Python-driven CG around the serial and the parallel products), then both variants.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ALGOS = {"trpo": ("TRPO", "CartPole-v1"), "cpo": ("CPO", "fasttrpo/SafetyPointVelocity-v0"),
         "lag": ("TRPOLagrangian", "fasttrpo/SafetyPointVelocity-v0")}
DTYPES = ("float32", "float64")


def names(scale: int = 1) -> list[str]:
    """Every entry point name (``scale`` > 1 adds nothing new: the sweep repeats them)."""
    out = [f"{kind}-{d}" for kind in ("policy", "fvp", "fvp_threads", "gsde") for d in DTYPES]
    out.append("cli")
    for algo in ALGOS:
        for sampler in ("gym", "compiled"):
            for threads in (1, 2, 3):
                for dtype in DTYPES:
                    out.append(f"{algo}-{sampler}-{threads}-{dtype}")
    return out


def _policy_api(dtype: str) -> dict:
    import fasttrpo

    pi = fasttrpo.GaussianMLPPolicy(11, 3, hidden_sizes=(64, 64), dtype=np.dtype(dtype), seed=0)
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(2048, 11))
    actions = pi.forward(obs) + np.exp(pi.log_std) * rng.normal(size=(2048, 3))
    advantages = rng.normal(size=2048)
    logp = pi.log_prob(obs, actions)
    loss, grad = pi.surrogate_grad(obs, actions, advantages, logp)
    fvp = pi.fisher_vector_product(obs, grad)
    x, x_fisher_x, n_iter = pi.linearize(obs).conjugate_gradient(grad, 0.1, 10)
    return dict(forward=pi.forward(obs), logp=logp, loss=loss, grad=grad, fvp=fvp, x=x,
                x_fisher_x=x_fisher_x, n_iter=n_iter)


def _fvp(dtype: str) -> dict:
    import fasttrpo

    pi = fasttrpo.GaussianMLPPolicy(11, 3, hidden_sizes=(64, 64), dtype=np.dtype(dtype), seed=0)
    obs = np.random.default_rng(0).normal(size=(2048, 11)).astype(dtype)
    return dict(fvp=pi.fisher_vector_product(obs, np.ones(pi.num_params, dtype)))


def _fvp_threads(dtype: str) -> dict:
    import fasttrpo
    from fasttrpo.foundation.threads import use_threads

    pi = fasttrpo.CategoricalMLPPolicy(6, 4, hidden_sizes=(32, 32), dtype=np.dtype(dtype),
                                       seed=1)
    rng = np.random.default_rng(1)
    obs = rng.normal(size=(1024, 6))
    vector = rng.normal(size=pi.num_params)
    with use_threads(2):
        lin = pi.linearize(obs)
        fvp = lin.fvp(vector)
        x, x_fisher_x, n_iter = lin.conjugate_gradient(vector, 0.1, 10)
    return dict(fvp=fvp, x=x, x_fisher_x=x_fisher_x, n_iter=n_iter)


def _learn(algo: str, sampler: str, n_threads: int, dtype: str) -> dict:
    import fasttrpo.algorithms
    import fasttrpo.runtime

    cls_name, env = ALGOS[algo]
    cls = getattr(fasttrpo.algorithms, cls_name)
    extra = {"cost_limit": 5.0} if algo != "trpo" else {}
    compiled = sampler == "compiled"
    if compiled and algo != "trpo":
        from compiled_point import point_env

        env, compiled = point_env(), False
    model = cls("MlpPolicy", env, n_envs=2, n_steps=256, batch_size=128, n_critic_updates=2,
                seed=3, dtype=dtype, n_threads=n_threads, compiled=compiled,
                policy_kwargs=dict(net_arch=[32, 32]), **extra)
    model.learn(1024)
    variants = _both_variants(model.policy) if n_threads >= 2 else {}
    obs = np.random.default_rng(2).normal(size=(16,) + model.observation_space.shape)
    action, _ = model.predict(obs.astype(np.float32), deterministic=True)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "policy.npz"
        model.export(path)
        runtime_action = fasttrpo.runtime.load(path).act(obs, deterministic=True)
    return dict(params=model.policy.get_params(), action=np.asarray(action),
                runtime_action=np.asarray(runtime_action), **variants)


def _gsde(dtype: str) -> dict:
    from fasttrpo import TRPO

    model = TRPO("MlpPolicy", "Pendulum-v1", use_sde=True, n_envs=2, n_steps=256,
                 batch_size=128, n_critic_updates=2, seed=3, dtype=dtype, n_threads=2,
                 policy_kwargs=dict(net_arch=[32, 32]))
    model.learn(1024)
    return dict(params=model.policy.get_params(), **_both_variants(model.policy))


def _both_variants(policy) -> dict:
    """The policy step's products on one 512-row batch, serial then parallel.

    Inside ``learn`` which variant a product runs depends on timing (the critic worker holds
    a thread until its fit ends), so a run's set of compiled kernels would too; this makes it
    fixed (every variant compiles in every such process) and checks that both give one result.
    """
    from fasttrpo.foundation.threads import use_threads

    rng = np.random.default_rng(5)
    obs = rng.normal(size=(512, policy.obs_dim))
    actions = policy.act_into(obs.astype(policy.dtype), True, rng,
                              np.empty((512, policy.action_width), policy.dtype))
    advantages = rng.normal(size=512)
    out = {}
    for threads in (1, 2):
        with use_threads(threads):
            lin = policy.linearize(obs)
            logp = lin.log_prob(actions)
            _, grad = lin.surrogate_grad(actions, advantages, logp)
            out[f"fvp_{threads}"] = lin.fvp(grad)
            out[f"cg_{threads}"] = lin.conjugate_gradient(grad, 0.1, 5)[0]
            out[f"kl_{threads}"] = lin.surrogate_and_kl(policy.get_params() * 1.01, actions,
                                                        advantages, logp)[1]
    for key in ("fvp", "cg", "kl"):
        np.testing.assert_array_equal(out[f"{key}_1"], out[f"{key}_2"], err_msg=key)
    return out


def _cli() -> dict:
    from fasttrpo import cli

    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as folder:
        save = Path(folder) / "cartpole"
        code = cli.main(["train", "CartPole-v1", "--hyperparams",
                         str(root / "hyperparams" / "trpo.yml"), "--seed", "0", "-n", "2048",
                         "--save", str(save), "--eval-episodes", "1"])
        import fasttrpo.algorithms

        params = fasttrpo.algorithms.load_model(str(save) + ".zip").policy.get_params()
    return dict(code=code or 0, params=params)


def run(name: str) -> dict:
    """Run the entry point ``name`` in this process; return what it computed."""
    kind, *rest = name.split("-")
    if kind == "policy":
        return _policy_api(rest[0])
    if kind == "fvp":
        return _fvp(rest[0])
    if kind == "fvp_threads":
        return _fvp_threads(rest[0])
    if kind == "cli":
        return _cli()
    if kind == "gsde":
        return _gsde(rest[0])
    sampler, threads, dtype = rest
    return _learn(kind, sampler, int(threads), dtype)


class CompileCounter:
    """Counts Numba compilations (not cache loads) of fasttrpo's and this module's functions."""

    def __init__(self) -> None:
        from numba.core import event

        self.names: list[str] = []
        counter = self

        class Listener(event.Listener):
            def on_start(self, ev):
                func = ev.data["dispatcher"].py_func
                module = getattr(func, "__module__", "") or ""
                if module.startswith("fasttrpo") or module in ("__main__", __name__):
                    counter.names.append(f"{module}.{func.__qualname__}")

            def on_end(self, ev):
                pass

        event.register("numba:compile", Listener())


def main(argv: list[str]) -> int:
    out_dir = Path(argv[0])
    counter = CompileCounter()
    for name in argv[1:]:
        result = run(name)
        np.savez(out_dir / f"{name}.npz", **{k: np.asarray(v) for k, v in result.items()})
    # read by the tests: how many functions this process compiled rather than loaded
    print(f"compiled {len(counter.names)} functions: {' '.join(counter.names)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main(sys.argv[1:]))
