"""Run one README Python block as a user would, with training cut short.

``python tests/readme_block.py BLOCK.py``: ``learn`` of every fasttrpo algorithm trains at
most ``FASTTRPO_README_STEPS`` (default 2048) env steps, the only change to the block (which
is run unedited, as its own ``__main__``); everything else is the block's own code.
"""

import os
import runpy
import sys

from fasttrpo.algorithms.base import OnPolicyAlgorithm

_learn = OnPolicyAlgorithm.learn
_CAP = int(os.environ.get("FASTTRPO_README_STEPS", "2048"))


def _short_learn(self, total_timesteps, *args, **kwargs):
    return _learn(self, min(int(total_timesteps), _CAP), *args, **kwargs)


OnPolicyAlgorithm.learn = _short_learn
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
