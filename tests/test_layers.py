"""The layer order of docs/design.md ("Layers"): no module imports from a layer above its own.

Every import counts, the lazy ones inside functions too (they still make the lower layer
depend on the upper one). A new module must be given its layer here.
"""

import ast
from pathlib import Path

import fasttrpo

PACKAGE = Path(fasttrpo.__file__).resolve().parent

# lowest first; a module belongs to the first entry whose prefix it has (longest match)
LAYERS = [
    ("foundation", ["fasttrpo.foundation"]),
    ("kernels", ["fasttrpo.kernels", "fasttrpo._cython"]),
    ("models", ["fasttrpo.models"]),
    ("steps", ["fasttrpo.steps"]),
    ("configuration", ["fasttrpo.config"]),
    ("envs", ["fasttrpo.envs"]),
    ("rollouts", ["fasttrpo.rollout"]),
    ("logs and files", ["fasttrpo.logs", "fasttrpo.callbacks", "fasttrpo.evaluation"]),
    ("deployment", ["fasttrpo.runtime", "fasttrpo.export"]),
    ("algorithms", ["fasttrpo.algorithms"]),
    ("API", ["fasttrpo.cli", "fasttrpo.zoo", "fasttrpo.interop", "fasttrpo.__main__",
             "fasttrpo"]),
]


def module_names() -> dict[str, Path]:
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = ("fasttrpo", *path.relative_to(PACKAGE).with_suffix("").parts)
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


def layer_of(module: str) -> int:
    best, best_len = None, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    assert best is not None, f"{module}: give it a layer in tests/test_layers.py"
    return best


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that ``path`` imports (``from x import y``: x.y if a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules
                     else node.module for alias in node.names]
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name.startswith("fasttrpo"):
                found.add(name)
    return found


def upward_imports(modules: dict[str, Path]) -> list[str]:
    bad = []
    for name, path in modules.items():
        own = layer_of(name)
        for imported in sorted(imports_of(path, modules) - {name}):
            if layer_of(imported) > own and not name.startswith(imported + "."):
                bad.append(f"{name} ({LAYERS[own][0]}) imports {imported} "
                           f"({LAYERS[layer_of(imported)][0]})")
    return bad


def test_no_module_imports_from_a_layer_above_its_own():
    modules = module_names()
    assert len(modules) > 60
    assert upward_imports(modules) == []


def test_the_check_finds_an_upward_import(tmp_path, monkeypatch):
    """The check itself: a kernel importing a policy (models) is reported, lazily too."""
    modules = module_names()
    kernel = tmp_path / "bad.py"
    kernel.write_text("def f():\n    from fasttrpo.models.policies import MLPPolicy\n")
    modules["fasttrpo.kernels.bad"] = kernel
    assert upward_imports(modules) == [
        "fasttrpo.kernels.bad (kernels) imports fasttrpo.models.policies (models)"]
