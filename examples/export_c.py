"""Deploy a trained policy as plain C: export, compile with the system C compiler, run.

The C sources and the program are written to a temporary folder (printed), not the working
directory.
"""

import subprocess
import tempfile
import textwrap
from pathlib import Path

import gymnasium as gym
import numpy as np

from fasttrpo import TRPO

model = TRPO("MlpPolicy", "Pendulum-v1", n_steps=1024, gamma=0.9, n_critic_updates=15,
             n_envs=2, seed=0)
model.learn(20_000)
build = Path(tempfile.mkdtemp(prefix="fasttrpo-c-"))
model.export(build / "pendulum_policy.c", format="c")  # pendulum_policy.c + pendulum_policy.h

obs, _ = gym.make("Pendulum-v1").reset(seed=0)
(build / "main.c").write_text(textwrap.dedent(f"""\
    #include <stdio.h>
    #include "pendulum_policy.h"
    int main(void) {{
        const float obs[3] = {{{obs[0]:.9g}f, {obs[1]:.9g}f, {obs[2]:.9g}f}};
        float action[1];
        pendulum_policy_act(obs, action);
        printf("%.6f\\n", action[0]);
        return 0;
    }}
    """))
subprocess.run(["cc", "-std=c99", "-O2", "-o", "policy", "main.c", "pendulum_policy.c", "-lm"],
               check=True, cwd=build)
in_c = float(subprocess.run([str(build / "policy")], capture_output=True, text=True,
                            check=True).stdout)
in_python = float(model.predict(obs, deterministic=True)[0][0])
print(f"C: {in_c:.6f}  python: {in_python:.6f}  (sources and program in {build})")
assert np.isclose(in_c, in_python, atol=1e-4)
