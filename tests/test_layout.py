"""The package's layering: a subpackage never imports a higher one (read from the source)."""

import ast
import os

from tests.tiny_training import REPO

# Lowest first; the command modules (outside subpackages) may import anything. The leaves below
# every layer import nothing of the package: presets.py (the defaults) and lookup.py (the one
# "did you mean" for unknown names).
LEAVES = ("presets", "lookup")
LAYERS = (
    *LEAVES,
    "colour",
    "data",
    "models",
    "runtime",
    "objectives",
    "components",
    "inference",
    "evaluation",
    "training",
    "tools",
)
PACKAGE = os.path.join(REPO, "colorize_jax")


def imported_subpackages(path: str) -> set[str]:
    """The colorize_jax subpackages and top-level modules `path` imports (anywhere in it)."""
    found = set()
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            parts = node.module.split(".")
            if parts[0] != "colorize_jax":
                continue
            if len(parts) > 1:
                found.add(parts[1])
            else:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "colorize_jax" and len(parts) > 1:
                    found.add(parts[1])
    return found


def test_no_subpackage_imports_a_higher_one_or_a_command():
    rank = {name: i for i, name in enumerate(LAYERS)}
    violations = [
        f"colorize_jax/{leaf}.py imports {target}"
        for leaf in LEAVES
        for target in imported_subpackages(os.path.join(PACKAGE, f"{leaf}.py"))
    ]
    for layer in LAYERS[len(LEAVES) :]:
        for dirpath, _, files in os.walk(os.path.join(PACKAGE, layer)):
            for name in files:
                if not name.endswith(".py"):
                    continue
                path = os.path.join(dirpath, name)
                for target in imported_subpackages(path):
                    if target not in rank or rank[target] > rank[layer]:
                        violations.append(f"{os.path.relpath(path, REPO)} imports {target}")
    assert violations == []


def test_every_module_is_in_a_layer_or_is_a_command():
    top_level = sorted(
        name[:-3] for name in os.listdir(PACKAGE) if name.endswith(".py") and name != "__init__.py"
    )
    commands = [
        "ab_prior",
        "app",
        "benchmark",
        "colorize",
        "colorize_benchmark",
        "evaluate",
        "export",
    ]
    assert top_level == sorted([*commands, "main", *LEAVES, "quality_table"])
    folders = sorted(
        name
        for name in os.listdir(PACKAGE)
        if os.path.isfile(os.path.join(PACKAGE, name, "__init__.py"))
    )
    assert folders == sorted(LAYERS[len(LEAVES) :])
