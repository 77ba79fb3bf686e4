"""``n_threads``: learn and predict run under BLAS / OpenMP / Numba thread limits that are
restored afterwards; None leaves the environment's settings alone."""

import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest
from threadpoolctl import threadpool_info

from fasttrpo import TRPO
from fasttrpo.callbacks import BaseCallback
from fasttrpo.foundation import threads as _threads
from fasttrpo.logs.serialization import load_archive, save_archive

from toy_envs import MatchEnv

TINY = dict(n_steps=64, batch_size=32, policy_kwargs=dict(net_arch=[8]), n_critic_updates=2)


def _blas_threads() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info()]


class RecordThreads(BaseCallback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def _on_step(self) -> bool:
        self.seen.append((tuple(_blas_threads()), numba.get_num_threads()))
        return True


def _spy_on_predict(model, seen):
    act_into = model.policy.act_into

    def spy(*args, **kwargs):
        seen.append((tuple(_blas_threads()), numba.get_num_threads()))
        return act_into(*args, **kwargs)

    model.policy.act_into = spy


def test_n_threads_limits_learn_and_predict_then_restores():
    numba.get_num_threads()  # launches Numba's threading layer, so its limit applies too
    before = (_blas_threads(), numba.get_num_threads())
    model = TRPO("MlpPolicy", MatchEnv("box"), seed=0, n_threads=1, **TINY)
    record = RecordThreads()
    model.learn(64, callback=record)
    assert record.seen and all(blas and set(blas) == {1} and nb == 1
                               for blas, nb in record.seen)
    assert (_blas_threads(), numba.get_num_threads()) == before
    seen = []
    _spy_on_predict(model, seen)
    model.predict(np.zeros((5000, 4), dtype=np.float32), deterministic=True)
    assert seen and set(seen[0][0]) == {1} and seen[0][1] == 1
    assert (_blas_threads(), numba.get_num_threads()) == before
    # one observation: BLAS runs it on one thread anyway, so no limit (and no cost) is set
    model.predict(np.zeros(4, dtype=np.float32), deterministic=True)
    assert seen[1] == (tuple(before[0]), before[1])


def test_default_leaves_stated_thread_settings_alone(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # the environment states a count: obey it
    monkeypatch.setattr(_threads, "_environment_states_threads", None)  # read it anew
    numba.get_num_threads()  # launch the layer first, as the callback's call would
    before = (tuple(_blas_threads()), numba.get_num_threads())
    model = TRPO("MlpPolicy", MatchEnv("discrete"), seed=0, **TINY)
    assert model.config.n_threads is None
    record = RecordThreads()
    model.learn(64, callback=record)
    assert set(record.seen) == {before}


def test_default_is_one_thread_when_the_environment_says_nothing(monkeypatch):
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(_threads, "_environment_states_threads", None)
    numba.get_num_threads()
    before = (tuple(_blas_threads()), numba.get_num_threads())
    model = TRPO("MlpPolicy", MatchEnv("discrete"), seed=0, **TINY)
    record = RecordThreads()
    model.learn(64, callback=record)
    assert set(record.seen) == {(tuple(1 for _ in before[0]), 1)}
    assert (tuple(_blas_threads()), numba.get_num_threads()) == before  # restored after


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_n_threads_validation(bad):
    with pytest.raises(ValueError, match="n_threads: must be None or a positive integer"):
        TRPO("MlpPolicy", MatchEnv("box"), n_threads=bad, **TINY)


def test_n_threads_is_saved_and_can_be_overridden(tmp_path):
    model = TRPO("MlpPolicy", MatchEnv("box"), seed=0, n_threads=2, **TINY)
    path = model.save(tmp_path / "model")
    assert TRPO.load(path).config.n_threads == 2
    assert TRPO.load(path, n_threads=None).config.n_threads is None
    # a file written before n_threads existed loads with the default
    meta, arrays = load_archive(path)
    del meta["config"]["n_threads"]
    old = save_archive(tmp_path / "old", meta, arrays)
    loaded = TRPO.load(old)
    assert loaded.config.n_threads is None
    obs = np.zeros(4, dtype=np.float32)
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0],
                                  model.predict(obs, deterministic=True)[0])


def test_limit_does_not_launch_numbas_threading_layer():
    """Serial kernels need no Numba pool: a limit must not start one (nor load libgomp)."""
    script = textwrap.dedent("""
        from threadpoolctl import threadpool_info
        from numba.np.ufunc import parallel
        from fasttrpo.foundation.threads import limit_threads
        with limit_threads(1, refresh=True):
            inside = [pool["num_threads"] for pool in threadpool_info()]
        assert inside and set(inside) == {1}, inside
        assert not parallel._is_initialized
        assert all(pool["internal_api"] != "openmp" for pool in threadpool_info())
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


# ---- every core: the critic fits overlap the policy step (issue 12) ----------------------------
@pytest.mark.parametrize("algorithm", ["trpo", "cpo"])
def test_results_do_not_depend_on_n_threads(algorithm):
    """Bit-identical parameters for 1, 2 and 3 threads: BLAS stays on one thread in learn,
    and the worker that fits the critics does the same arithmetic as the serial path."""
    from fasttrpo import CPO

    runs = []
    for n_threads in (1, 2, 3):
        if algorithm == "trpo":
            model = TRPO("MlpPolicy", "Pendulum-v1", seed=0, n_threads=n_threads,
                         normalize_obs=True, **{**TINY, "policy_kwargs": dict(net_arch=[64])})
        else:
            model = CPO("MlpPolicy", "fasttrpo/SafetyPointVelocity-v0", seed=0,
                        n_threads=n_threads, cost_limit=5.0, **TINY)
        model.learn(512)
        runs.append([model.policy.get_params(),
                     *(critic.get_params() for critic in model.value_functions.values())])
    for run in runs[1:]:
        for ours, reference in zip(run, runs[0], strict=True):
            np.testing.assert_array_equal(ours, reference)


def test_critics_are_fitted_on_a_worker_thread_while_the_policy_steps():
    import threading

    model = TRPO("MlpPolicy", "CartPole-v1", seed=0, n_threads=2, **TINY)
    where, fit = [], model.fit_critics

    def spy(data):
        where.append(threading.current_thread().name)
        return fit(data)

    model.fit_critics = spy
    model.learn(128)
    assert where and all(name.startswith("fasttrpo-critic") for name in where)
    serial = TRPO("MlpPolicy", "CartPole-v1", seed=0, n_threads=1, **TINY)
    where.clear()
    fit = serial.fit_critics
    serial.fit_critics = spy
    serial.learn(64)
    assert where == ["MainThread"]


def test_a_failed_policy_step_undoes_the_concurrent_critic_fit():
    model = TRPO("MlpPolicy", "CartPole-v1", seed=0, n_threads=2, **TINY)
    model.learn(64)
    critic, policy = model.value_function.get_params(), model.policy.get_params()
    fitter_state = {k: np.copy(v) for k, v in model.vf_fitter.state_dict().items()}

    def failing_step(data):
        import time

        time.sleep(0.05)  # the critic fit on the worker has finished by now
        raise ValueError("policy step failed")

    model.update_policy = failing_step
    with pytest.raises(ValueError, match="policy step failed"):
        model.learn(64, reset_num_timesteps=False)
    np.testing.assert_array_equal(model.value_function.get_params(), critic)
    np.testing.assert_array_equal(model.policy.get_params(), policy)
    for key, value in model.vf_fitter.state_dict().items():
        np.testing.assert_array_equal(np.asarray(value), fitter_state[key])


# ---- every core: row-block parallel Fisher-vector products (issue 12) -------------------------
@pytest.fixture
def parallel_launches(monkeypatch):
    """Record whether each row-block kernel call of the policies ran the parallel variant."""
    from contextlib import contextmanager

    from fasttrpo.foundation import threads as _threads
    from fasttrpo.models import linearization

    launches = []

    @contextmanager
    def spy(worth_it):
        with _threads.parallel_kernels(worth_it) as parallel:
            launches.append(parallel)
            yield parallel

    monkeypatch.setattr(linearization, "parallel_kernels", spy)
    return launches


def _cg_on_threads(policy, obs, rhs, n_threads):
    from fasttrpo.foundation.threads import use_threads

    with use_threads(n_threads):
        return policy.linearize(obs).conjugate_gradient(rhs, 0.1, 12, 0.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("head", ["gaussian", "categorical", "bernoulli", "gsde"])
def test_parallel_fisher_products_are_bit_identical_on_any_thread_count(head, dtype,
                                                                         parallel_launches):
    """CG on the row-block products: the same bits serially and on 2 or 3 Numba threads (the
    parallel kernel must really run: the batch is above the size threshold), in both dtypes
    (float64 caught a parallel-compiled CG that rounded differently)."""
    import fasttrpo
    from fasttrpo.foundation.threads import PARALLEL_MIN_ROWS
    from fasttrpo.kernels.policy import ROW_BLOCK

    make = {
        "gaussian": lambda: fasttrpo.GaussianMLPPolicy(5, 2, hidden_sizes=(16, 16), seed=0,
                                                       dtype=dtype),
        "categorical": lambda: fasttrpo.CategoricalMLPPolicy(5, 3, hidden_sizes=(16,), seed=0,
                                                       dtype=dtype),
        "bernoulli": lambda: fasttrpo.BernoulliMLPPolicy(5, 3, hidden_sizes=(16,), seed=0,
                                                         dtype=dtype),
        "gsde": lambda: fasttrpo.GaussianSDEMLPPolicy(5, 2, hidden_sizes=(16,), seed=0,
                                                    dtype=dtype),
    }[head]
    policy = make()
    rng = np.random.default_rng(1)
    n_rows = max(PARALLEL_MIN_ROWS, 4 * ROW_BLOCK) + 17  # a partial last block
    obs = rng.standard_normal((n_rows, 5)).astype(policy.dtype)
    rhs = rng.standard_normal(policy.num_params).astype(policy.dtype)
    serial = _cg_on_threads(policy, obs, rhs, 1)
    for n_threads in (2, 3):
        x, x_fisher_x, n_iter = _cg_on_threads(policy, obs, rhs, n_threads)
        np.testing.assert_array_equal(x, serial[0])
        assert (x_fisher_x, n_iter) == serial[1:]
    assert parallel_launches.count(True) == 4  # forward and CG on 2 and on 3 threads


def test_row_blocks_sum_to_the_whole_batch_product():
    """The blocked product is linear in the rows: F(all rows) = (n1 F(part 1) + n2 F(part 2))
    / N in float64, with parts that cut blocks in the middle (partials, scratch offsets)."""
    import fasttrpo

    policy = fasttrpo.GaussianMLPPolicy(4, 3, hidden_sizes=(8, 8), dtype=np.float64, seed=0)
    rng = np.random.default_rng(2)
    obs = rng.standard_normal((900, 4))
    vector = rng.standard_normal(policy.num_params)
    whole = policy.linearize(obs).fvp(vector)
    parts = [(obs[:333], 333), (obs[333:], 567)]
    pieced = sum(n * policy.linearize(part).fvp(vector) for part, n in parts) / 900
    np.testing.assert_allclose(whole, pieced, rtol=1e-11, atol=1e-13)


def test_concurrent_parallel_products_do_not_collide():
    """Two threads solving at once: one gets Numba's threads, the other runs serially (the
    workqueue layer would abort on two parallel launches); both get the serial bits."""
    import threading

    import fasttrpo
    from fasttrpo.foundation.threads import PARALLEL_MIN_ROWS

    policies = [fasttrpo.GaussianMLPPolicy(6, 2, hidden_sizes=(16,), seed=s) for s in (0, 1)]
    rng = np.random.default_rng(3)
    obs = rng.standard_normal((PARALLEL_MIN_ROWS + 300, 6)).astype(np.float32)
    rhs = rng.standard_normal(policies[0].num_params).astype(np.float32)
    expected = [_cg_on_threads(p, obs, rhs, 1)[0] for p in policies]
    results: dict[int, list] = {0: [], 1: []}

    def solve(index):
        for _ in range(20):
            results[index].append(_cg_on_threads(policies[index], obs, rhs, 2)[0])

    threads = [threading.Thread(target=solve, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for index in (0, 1):
        assert len(results[index]) == 20
        for x in results[index]:
            np.testing.assert_array_equal(x, expected[index])


def test_results_do_not_depend_on_n_threads_with_parallel_products():
    """A batch above the parallel threshold: 1, 2 and 3 threads end bit-identical."""
    from fasttrpo.foundation.threads import PARALLEL_MIN_ROWS

    runs = []
    for n_threads in (1, 2, 3):
        model = TRPO("MlpPolicy", "Pendulum-v1", seed=0, n_threads=n_threads,
                     n_steps=PARALLEL_MIN_ROWS + 64, batch_size=256, n_critic_updates=1,
                     policy_kwargs=dict(net_arch=[16]))
        model.learn(2 * (PARALLEL_MIN_ROWS + 64))
        runs.append(model.policy.get_params())
    for params in runs[1:]:
        np.testing.assert_array_equal(params, runs[0])


@pytest.mark.parametrize("head", ["gaussian", "gsde"])
def test_parallel_forward_and_surrogate_gradient_are_bit_identical(head, parallel_launches):
    """The linearisation's forward pass, the surrogate gradient (row-block VJP) and a
    line-search evaluation: the same bits on 1, 2 and 3 threads."""
    import fasttrpo
    from fasttrpo.foundation.threads import PARALLEL_MIN_ROWS, use_threads

    policy = (fasttrpo.GaussianMLPPolicy if head == "gaussian" else
              fasttrpo.GaussianSDEMLPPolicy)(7, 2, hidden_sizes=(16, 8), seed=0)
    rng = np.random.default_rng(4)
    n_rows = PARALLEL_MIN_ROWS + 150
    obs = rng.standard_normal((n_rows, 7)).astype(np.float32)
    actions = rng.standard_normal((n_rows, 2)).astype(np.float32)
    advantages = rng.standard_normal(n_rows).astype(np.float32)
    old_log_prob = policy.log_prob(obs, actions)
    candidate = policy.get_params() + 0.01 * rng.standard_normal(policy.num_params).astype(
        np.float32)
    results = []
    for n_threads in (1, 2, 3):
        with use_threads(n_threads):
            lin = policy.linearize(obs)
            out = lin.out.copy()
            value, grad = lin.surrogate_grad(actions, advantages, old_log_prob)
            evaluation = lin.surrogate_and_kl(candidate, actions, advantages, old_log_prob)
        results.append((out, value, grad, evaluation))
    for out, value, grad, evaluation in results[1:]:
        np.testing.assert_array_equal(out, results[0][0])
        assert value == results[0][1] and evaluation == results[0][3]
        np.testing.assert_array_equal(grad, results[0][2])
    # forward, surrogate VJP and the candidate's forward, on 2 and on 3 threads
    assert parallel_launches.count(True) == 6 and parallel_launches.count(False) == 3
