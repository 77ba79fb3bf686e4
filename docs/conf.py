"""Sphinx configuration of fasttrpo's documentation site (``docs/``).

Build: ``sphinx-build -W --keep-going -b html docs build/docs/html``; the code examples of the
pages run with ``python docs/run_examples.py`` (both in ``.ci/run``). Why Sphinx:
``docs/about.md``.
"""

import os
import sys
from importlib.metadata import PackageNotFoundError, version

# the checkout being documented comes first, so autodoc reads its docstrings
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, ROOT)

project = "fasttrpo"
author = "the fasttrpo developers"
copyright = "the fasttrpo developers (MIT licence)"
try:
    release = version("fasttrpo")
except PackageNotFoundError:  # a source tree that was never installed
    release = "0+unknown"
version = release

extensions = [
    "myst_parser",  # the Markdown pages, docs/design.md, CHANGELOG.md, BENCHMARKS.md
    "sphinx.ext.autodoc",  # the API reference, from the docstrings
    "numpydoc",  # the docstrings are numpydoc (ruff's pydocstyle numpy convention)
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# MyST: ``:::`` fences and definition lists (the env contract page)
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3  # [text](#a-heading) links, as on GitHub

# the docstrings write `name` for a Python object (pydocstyle's convention): make it a
# cross-reference (a name Sphinx cannot resolve renders as code, without a warning unless
# nitpicky, which is off)
default_role = "py:obj"

autodoc_member_order = "bysource"
autodoc_typehints = "none"  # numpydoc's Parameters sections already give the types
autodoc_default_options = {"members": True, "show-inheritance": True}

# numpydoc: one entry per method is what autodoc's ``:members:`` already lists; numpydoc's own
# class-member tables would list every method twice (and warn on the inherited ones)
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False  # types are free text ("int, default 2048"), not refs

html_theme = "alabaster"
html_title = f"fasttrpo {release}"
html_theme_options = {
    "description": "TRPO on the CPU: Numba and Cython kernels, no deep-learning framework",
    "fixed_sidebar": True,
    "page_width": "1100px",
    "sidebar_width": "260px",
}
html_static_path: list[str] = []
