"""RaySampler: k workers x m envs give the parameters of one VectorEnvSampler over k * m envs,
bit for bit; dead workers are replaced and their share collected again; env errors name the
worker and the env; workers that cannot fit the cluster are refused at once, and every wait on
a worker ends at a timeout with a clear error. One local Ray (2 CPUs) for the module; skipped
without ray (the optional_deps marker, run by .ci/run with FASTTRPO_REQUIRE_OPTIONAL=1)."""

import functools
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from fasttrpo import CPO, PCPO, TRPO, TRPOLagrangian, TRPOPIDLagrangian
from fasttrpo.rollout import RolloutBatch

from conftest import require
from toy_envs import RaisingCartPole, SleepyCartPole

pytestmark = pytest.mark.optional_deps

TINY = dict(n_steps=32, batch_size=32, n_critic_updates=2, policy_kwargs=dict(net_arch=[8]))


@pytest.fixture(scope="module")
def ray():
    ray = require("ray")
    # the workers unpickle the test envs by reference: give them this folder on their path
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).parent),
                                                             saved]))
    try:
        ray.init(num_cpus=2, include_dashboard=False, configure_logging=False)
    finally:
        if saved is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = saved
    yield ray
    ray.shutdown()


def _ray_sampler(*args, **kwargs):
    from fasttrpo.rollout import RaySampler

    return RaySampler(*args, **kwargs)


def _state(model):
    state = {"policy": model.policy.get_params(),
             **{f"value/{s}": v.get_params() for s, v in model.value_functions.items()}}
    if model.reward_scaler is not None:
        state.update({f"ret_rms/{k}": np.asarray(v)
                      for k, v in model.reward_scaler.state_dict().items()})
    return state


def _assert_same(ours, theirs):
    for key, value in _state(theirs).items():
        np.testing.assert_array_equal(_state(ours)[key], value, err_msg=key)
    assert list(ours.ep_info_buffer) == list(theirs.ep_info_buffer)
    assert ours.noise_streams.states() == theirs.noise_streams.states()
    assert ours.num_timesteps == theirs.num_timesteps


def test_importing_fasttrpo_does_not_import_ray():
    code = ("import sys, fasttrpo, fasttrpo.rollout; from fasttrpo import TRPO, CPO; "
            "assert 'ray' not in sys.modules, 'ray imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(("env_id", "extra"), [
    ("Pendulum-v1", dict(normalize_reward=True)),  # Gaussian, rewards scaled at the learner
    ("CartPole-v1", dict(dtype="float64")),  # categorical
])
def test_two_workers_of_two_envs_equal_one_sampler_of_four(ray, env_id, extra):
    kwargs = dict(TINY, seed=3, n_envs=4, **extra)
    single = TRPO("MlpPolicy", env_id, **kwargs).learn(3 * 32 * 4)
    sampler = _ray_sampler(env_id, n_workers=2, envs_per_worker=2)
    remote = TRPO("MlpPolicy", sampler, **kwargs).learn(3 * 32 * 4)
    _assert_same(remote, single)
    assert set(sampler.timings) == {"worker_rollout_max_s", "worker_rollout_median_s",
                                    "transfer_s"}
    assert remote.env_id == env_id
    sampler.close()


@pytest.mark.parametrize(("algorithm", "env_id", "costs"), [
    (CPO, "fasttrpo/SafetyPointVelocity-v0", {}),
    (PCPO, "fasttrpo/SafetyPointVelocity-v0", {}),
    (TRPOLagrangian, "fasttrpo/SafetyPointVelocity-v0", {}),
    (TRPOPIDLagrangian, "fasttrpo/SafetyPointVelocity-v0", {}),
    # several constraints: one signal per named cost through the workers
    (CPO, "fasttrpo/SafetyPointTwoCosts-v0",
     dict(cost_limit=[5.0, 5.0], cost_keys=["cost_speed", "cost_effort"])),
    (TRPOLagrangian, "fasttrpo/SafetyPointTwoCosts-v0",
     dict(cost_limit=[5.0, 5.0], cost_keys=["cost_speed", "cost_effort"])),
])
def test_constrained_algorithms_through_ray_equal_one_sampler(ray, algorithm, env_id, costs):
    kwargs = dict(TINY, seed=4, n_envs=2, **({"cost_limit": 5.0} | costs))
    single = algorithm("MlpPolicy", env_id, **kwargs).learn(2 * 32 * 2)
    sampler = _ray_sampler(env_id, n_workers=2, envs_per_worker=1)
    remote = algorithm("MlpPolicy", sampler, **kwargs).learn(2 * 32 * 2)
    _assert_same(remote, single)
    assert any("c" in episode for episode in remote.ep_info_buffer) or \
        not remote.ep_info_buffer
    sampler.close()


def test_compiled_envs_in_workers(ray):
    kwargs = dict(TINY, seed=5, n_envs=4, dtype="float64")
    single = TRPO("MlpPolicy", "CartPole-v1", compiled=True, **kwargs).learn(2 * 32 * 4)
    sampler = _ray_sampler("CartPole-v1", n_workers=2, envs_per_worker=2, compiled=True)
    remote = TRPO("MlpPolicy", sampler, **kwargs).learn(2 * 32 * 4)
    _assert_same(remote, single)
    sampler.close()


def test_observation_statistics_fold_every_step_at_the_learner(ray):
    sampler = _ray_sampler("Pendulum-v1", n_workers=2, envs_per_worker=1)
    model = TRPO("MlpPolicy", sampler, normalize_obs=True, **dict(TINY, seed=6, n_envs=2))
    model.learn(2 * 32 * 2)
    # the reset rows, then every step's new rows of both envs
    assert model.obs_normalizer.state_dict()["count"] == pytest.approx(1e-4 + 2 + 2 * 32 * 2)
    assert np.isfinite(model.policy.get_params()).all()
    sampler.close()


def test_a_worker_killed_mid_rollout_is_replaced_and_its_share_collected_again(ray):
    sampler = _ray_sampler(SleepyCartPole, n_workers=2, envs_per_worker=1)
    model = TRPO("MlpPolicy", sampler, **dict(TINY, seed=7, n_envs=2, n_steps=128,
                                              batch_size=64))
    model.learn(128 * 2)  # workers started and warm
    batch = RolloutBatch(128, 2, model.encoder.obs_dim, model.policy.action_width,
                         model.dtype)
    killer = threading.Timer(0.15, ray.kill, (sampler.actors[1],))  # ~0.4 s rollouts
    killer.start()
    assert sampler.collect(model.policy, batch, model.noise_streams)
    killer.join()
    assert sampler.restarts == 1
    assert batch.valid.all() and batch.flags.shape == (3, 128, 2)
    assert len(batch.finished_episodes) == int(batch.dones.sum())  # each episode once
    model.learn(128 * 2, reset_num_timesteps=False)  # training goes on
    assert model.num_timesteps == 2 * 128 * 2
    sampler.close()


def test_an_env_error_names_the_worker_and_env_and_the_model_stays_savable(ray, tmp_path):
    from fasttrpo.rollout.ray_sampler import WorkerError

    sampler = _ray_sampler(RaisingCartPole, n_workers=2, envs_per_worker=2)
    seed = RaisingCartPole.RAISE_SEED - 3  # env 3 (worker 1) gets seed + 3
    model = TRPO("MlpPolicy", sampler, **dict(TINY, seed=seed, n_envs=4))
    before = model.policy.get_params()
    with pytest.raises(WorkerError, match="worker 1, env 3: FloatingPointError: the simulator") \
            as info:
        model.learn(32 * 4)
    assert (info.value.worker, info.value.env) == (1, 3)
    np.testing.assert_array_equal(model.policy.get_params(), before)
    path = model.save(tmp_path / "model")
    np.testing.assert_array_equal(TRPO.load(path).policy.get_params(), before)
    model.learn(32 * 4, reset_num_timesteps=False)  # worker 1 replaced, new seeds
    assert sampler.restarts == 1 and model.num_timesteps == 32 * 4
    sampler.close()


# ---- resources and timeouts (issue 22, item 7: workers that cannot be scheduled) ----------
@pytest.mark.parametrize(("n_workers", "cpus", "message"), [
    (3, 1.0, "3 workers x 1 CPU need 3 CPUs, the Ray cluster has 2; use n_workers=2, or "
             "cpus_per_worker=0.6666 (workers share CPUs), or start Ray with more CPUs"),
    (4, 1.0, "4 workers x 1 CPU need 4 CPUs, the Ray cluster has 2; use n_workers=2, or "
             "cpus_per_worker=0.5 (workers share CPUs), or start Ray with more CPUs"),
    # Ray holds 0.6667 as 6667 units of 1e-4: three need 2.0001 CPUs, one would wait forever
    (3, 0.6667, "3 workers x 0.6667 CPU need 2.0001 CPUs, the Ray cluster has 2; use "
                "n_workers=2, or cpus_per_worker=0.6666"),
])
def test_workers_that_cannot_fit_the_cluster_are_refused_at_once(ray, n_workers, cpus, message):
    from fasttrpo.rollout.ray_sampler import ResourceShortageError

    # startup_timeout: without the check the test fails in seconds (before: waited forever)
    sampler = _ray_sampler("CartPole-v1", n_workers=n_workers, envs_per_worker=2,
                           cpus_per_worker=cpus, startup_timeout=5)
    model = TRPO("MlpPolicy", sampler, **dict(TINY, seed=8, n_envs=2 * n_workers))
    before = model.policy.get_params()
    start = time.perf_counter()
    with pytest.raises(ResourceShortageError, match=re.escape("RaySampler: " + message)):
        model.learn(32 * 2 * n_workers)
    assert time.perf_counter() - start < 3.0
    assert isinstance(ResourceShortageError("x"), ValueError)
    assert sampler.actors == [] and sampler.worker_cpus is None  # no actor was started
    np.testing.assert_array_equal(model.policy.get_params(), before)


def test_the_readme_example_runs_on_two_cpus_with_the_default_cpus_per_worker(ray):
    # README: RaySampler("Hopper-v5", n_workers=4, envs_per_worker=2); CartPole to be quick
    kwargs = dict(TINY, seed=9, n_envs=8)
    single = TRPO("MlpPolicy", "CartPole-v1", **kwargs).learn(2 * 32 * 8)
    sampler = _ray_sampler("CartPole-v1", n_workers=4, envs_per_worker=2)
    remote = TRPO("MlpPolicy", sampler, **kwargs).learn(2 * 32 * 8)
    assert sampler.worker_cpus == 0.5  # 4 workers share the 2 CPUs
    _assert_same(remote, single)
    sampler.close()


def test_a_worker_slower_than_worker_timeout_is_an_error_then_replaced(ray):
    from fasttrpo.rollout.ray_sampler import WorkerError, WorkerTimeoutError

    # 0.1 s a step: 16 steps take 1.6 s, past worker_timeout=1 (no timeout: no error at all)
    sampler = _ray_sampler(functools.partial(SleepyCartPole, 0.1), n_workers=2,
                           worker_timeout=1)
    model = TRPO("MlpPolicy", sampler, **dict(TINY, seed=10, n_envs=2, n_steps=16,
                                              batch_size=16))
    before = model.policy.get_params()
    with pytest.raises(WorkerTimeoutError, match=r"RaySampler: Ray workers 0, 1 did not return "
                       r"a rollout \(16 steps x 1 env\) within worker_timeout=1 s") as info:
        model.learn(16 * 2)
    assert isinstance(info.value, WorkerError) and info.value.worker == 0
    np.testing.assert_array_equal(model.policy.get_params(), before)
    assert model.num_timesteps == 0
    sampler.worker_timeout = 30.0  # the late workers are replaced; training goes on
    model.learn(16 * 2, reset_num_timesteps=False)
    assert sampler.restarts == 2 and model.num_timesteps == 16 * 2
    sampler.close()


def test_a_worker_that_cannot_start_is_a_startup_timeout_error(ray, monkeypatch):
    from fasttrpo.rollout.ray_sampler import RaySampler, WorkerTimeoutError

    # the CPUs fit (the check passes), a custom resource that no node has does not
    options = RaySampler._actor_options
    monkeypatch.setattr(RaySampler, "_actor_options", lambda self: {
        **options(self), "resources": {"fasttrpo_missing": 1}})
    sampler = RaySampler("CartPole-v1", n_workers=2, startup_timeout=2)
    model = TRPO("MlpPolicy", sampler, **dict(TINY, seed=11, n_envs=2))
    start = time.perf_counter()
    with pytest.raises(WorkerTimeoutError, match=r"RaySampler: Ray workers 0, 1 did not start "
                       r"within startup_timeout=2 s\. Each asks Ray for \{'num_cpus': 1\.0, "
                       r"'resources': \{'fasttrpo_missing': 1\}\}; the cluster has CPU "
                       r"[0-9.]+ free"):
        model.learn(32 * 2)
    assert time.perf_counter() - start < 2 + 3
    assert sampler.actors == []  # stopped: none left waiting for the resource


def test_autoscaling_skips_the_check_and_a_pending_worker_ends_at_startup_timeout(ray):
    from fasttrpo.rollout.ray_sampler import WorkerTimeoutError

    # 3 workers x 1 CPU on 2 CPUs: no node comes, one worker never starts
    sampler = _ray_sampler("CartPole-v1", n_workers=3, autoscaling=True, startup_timeout=3)
    model = TRPO("MlpPolicy", sampler, **dict(TINY, seed=12, n_envs=3))
    # (on a loaded machine the two that fit may not start within 3 s either)
    with pytest.raises(WorkerTimeoutError, match=r"Ray workers? [0-2](, [0-2])* did not start "
                       r"within startup_timeout=3 s\. Each asks Ray for \{'num_cpus': 1\.0\}"):
        model.learn(32 * 3)
    assert sampler.worker_cpus == 1.0 and sampler.actors == []


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(worker_timeout=0), "worker_timeout: expected a positive, finite number"),
    (dict(worker_timeout=float("inf")), "worker_timeout: expected a positive, finite"),
    (dict(worker_timeout=True), "worker_timeout: expected a positive, finite"),
    (dict(startup_timeout=-1.0), "startup_timeout: expected a positive, finite"),
    (dict(cpus_per_worker=0.00005), r"cpus_per_worker: expected None or a number >= 0\.0001"),
    (dict(cpus_per_worker=0), r"cpus_per_worker: expected None or a number >= 0\.0001"),
])
def test_timeouts_and_cpus_per_worker_are_validated(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _ray_sampler("CartPole-v1", **kwargs)


def test_startup_timeout_defaults():
    assert _ray_sampler("CartPole-v1").startup_timeout == 60.0
    assert _ray_sampler("CartPole-v1", autoscaling=True).startup_timeout == 600.0
    assert _ray_sampler("CartPole-v1").worker_timeout == 300.0
