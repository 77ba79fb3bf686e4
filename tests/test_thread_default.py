"""``n_threads=None``: the rule of `fasttrpo.foundation.threads.default_n_threads` (free physical
cores: affinity, SMT siblings, a container's quota, the load), with the machine faked."""

import os
import shutil

import numpy as np
import pytest

from fasttrpo import TRPO
from fasttrpo.foundation import threads as _threads

from toy_envs import MatchEnv

TINY = dict(n_steps=64, batch_size=32, policy_kwargs=dict(net_arch=[8]), n_critic_updates=2)


def _topology(root, cores):
    """Fake /sys/devices/system/cpu: ``cores[k]`` is (package, core) of logical CPU k."""
    shutil.rmtree(root, ignore_errors=True)
    for cpu, (package, core) in enumerate(cores):
        folder = root / f"cpu{cpu}" / "topology"
        folder.mkdir(parents=True)
        (folder / "physical_package_id").write_text(f"{package}\n")
        (folder / "core_id").write_text(f"{core}\n")


@pytest.fixture
def machine(tmp_path, monkeypatch):
    """Set the fake machine: ``machine(cpus=..., cores=..., load=..., cpu_max=..., cgroup=...)``."""
    sysfs = tmp_path / "cpu"
    cgroup_root = tmp_path / "cgroup"
    real_path = _threads.Path

    def fake(cpus, cores=None, load=0.0, cpu_max=None, cgroup="/user.slice/job"):
        cores = cores or [(0, k) for k in range(max(cpus) + 1)]
        _topology(sysfs, cores)
        folder = cgroup_root / cgroup.lstrip("/")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "cpu.max").unlink(missing_ok=True)
        if cpu_max is not None:
            (folder / "cpu.max").write_text(cpu_max)
        (tmp_path / "self_cgroup").write_text(f"0::{cgroup}\n")
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(cpus))
        monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
        monkeypatch.setattr(_threads, "CGROUP_ROOT", str(cgroup_root))

        def path(name, *rest):  # redirect the two system paths the rule reads
            name = str(name)
            if name.startswith("/sys/devices/system/cpu/"):
                return real_path(sysfs, name.removeprefix("/sys/devices/system/cpu/"), *rest)
            if name == "/proc/self/cgroup":
                return real_path(tmp_path / "self_cgroup")
            return real_path(name, *rest)

        monkeypatch.setattr(_threads, "Path", path)
        return _threads.default_n_threads()

    return fake


def test_a_quiet_machine_gives_every_core(machine):
    assert machine(cpus={0, 1}) == 2
    assert machine(cpus={0, 1, 2, 3}, load=0.4) == 4


def test_busy_cores_are_taken_off(machine):
    assert machine(cpus={0, 1}, load=1.0) == 1  # another job holds a core
    assert machine(cpus={0, 1, 2, 3}, load=1.6) == 2
    assert machine(cpus={0, 1}, load=6.0) == 1  # never fewer than one


def test_smt_siblings_count_once(machine):
    # 4 logical CPUs on 2 cores (hyper-threading): two threads, one per core
    assert machine(cpus={0, 1, 2, 3}, cores=[(0, 0), (0, 1), (0, 0), (0, 1)]) == 2
    # two packages, core ids repeated in each
    assert machine(cpus={0, 1, 2, 3}, cores=[(0, 0), (0, 1), (1, 0), (1, 1)]) == 4


def test_affinity_limits_the_cores(machine):
    assert machine(cpus={3}) == 1  # taskset -c 3
    assert machine(cpus={0, 2}, cores=[(0, k) for k in range(4)]) == 2


def test_container_quota_caps_the_cores(machine):
    assert machine(cpus={0, 1, 2, 3}, cpu_max="200000 100000\n") == 2
    assert machine(cpus={0, 1, 2, 3}, cpu_max="150000 100000\n") == 1  # 1.5 CPUs: 1 thread
    assert machine(cpus={0, 1, 2, 3}, cpu_max="50000 100000\n") == 1
    assert machine(cpus={0, 1, 2, 3}, cpu_max="max 100000\n") == 4  # no quota


def test_a_parent_cgroups_quota_counts(machine, tmp_path):
    (tmp_path / "cgroup" / "kubepods").mkdir(parents=True)
    (tmp_path / "cgroup" / "kubepods" / "cpu.max").write_text("300000 100000\n")
    assert machine(cpus=set(range(8)), cgroup="/kubepods/pod1") == 3


def test_the_rule_decides_learns_threads_and_not_the_bits(machine, monkeypatch):
    """None follows the rule at each learn call; the parameters do not depend on it."""
    seen = []
    real = _threads.use_threads
    from fasttrpo.algorithms import update

    def spy(n_threads, reserved=None):
        seen.append(n_threads)
        return real(n_threads, reserved)


    monkeypatch.setattr(update, "use_threads", spy)
    params = []
    for load in (0.0, 1.0):
        machine(cpus={0, 1}, load=load)
        model = TRPO("MlpPolicy", MatchEnv("box"), seed=0, **TINY)
        model.learn(128)
        params.append(model.policy.get_params())
    # quiet: the critic worker (use_threads called), the step's kernels on 1 thread; loaded:
    # no worker at all
    assert seen and set(seen) == {1}
    assert np.array_equal(params[0], params[1])


def test_an_explicit_count_is_kept(machine):
    machine(cpus={0, 1}, load=5.0)
    assert _threads.learn_threads(2) == (2, 2)
    assert _threads.learn_threads(None) == (1, 1)
    machine(cpus={0, 1})
    # None: the free cores for the critic worker, the row-block kernels serial (their
    # parallel variants would be one more compilation on a cold start)
    assert _threads.learn_threads(None) == (2, 1)
