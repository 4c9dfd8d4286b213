"""The package's layering (a subpackage never imports a higher one) and its one command runner,
read from the source."""

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
    commands = ["app", "colorize", "evaluate", "export", "main"]  # the tools run in tools/
    assert top_level == sorted([*commands, *LEAVES])
    folders = sorted(
        name
        for name in os.listdir(PACKAGE)
        if os.path.isfile(os.path.join(PACKAGE, name, "__init__.py"))
    )
    assert folders == sorted(LAYERS[len(LEAVES) :])


RUNNER = os.path.join(PACKAGE, "runtime", "cli.py")


def package_modules() -> list[str]:
    return sorted(
        os.path.join(dirpath, name)
        for dirpath, _, files in os.walk(PACKAGE)
        for name in files
        if name.endswith(".py")
    )


def _called_name(call: ast.Call) -> str:
    """`app.run(...)` -> "app.run", `apply_defaults(...)` -> "apply_defaults"."""
    func = call.func
    if isinstance(func, ast.Attribute):
        owner = func.value.id if isinstance(func.value, ast.Name) else "?"
        return f"{owner}.{func.attr}"
    return func.id if isinstance(func, ast.Name) else "?"


def test_only_the_runner_starts_a_command():
    """`app.run`, the CPU defaults and the quiet logs: only `runtime/cli.py` calls them."""
    violations = []
    for path in package_modules():
        if path == RUNNER:
            continue
        for node in ast.walk(ast.parse(open(path).read())):
            if not isinstance(node, ast.Call):
                continue
            name = _called_name(node)
            if name == "app.run" or name.split(".")[-1] in ("apply_defaults", "quiet_library_logs"):
                violations.append(f"{os.path.relpath(path, REPO)}:{node.lineno} calls {name}")
    assert violations == []
    runner = {_called_name(n) for n in ast.walk(ast.parse(open(RUNNER).read()))
              if isinstance(n, ast.Call)}  # fmt: skip
    assert {"app.run", "cpu.apply_defaults", "reporting.quiet_library_logs"} <= runner


def main_block(tree: ast.Module) -> ast.If | None:
    """The module's top-level `if __name__ == "__main__":`, if any."""
    for node in tree.body:
        if (
            isinstance(node, ast.If)
            and isinstance(node.test, ast.Compare)
            and isinstance(node.test.left, ast.Name)
            and node.test.left.id == "__name__"
            and isinstance(node.test.comparators[0], ast.Constant)
            and node.test.comparators[0].value == "__main__"
        ):
            return node
    return None


def program_modules() -> dict[str, ast.Module]:
    """Every module with an `if __name__ == "__main__":` block, by dotted name."""
    programs = {}
    for path in package_modules():
        tree = ast.parse(open(path).read())
        if main_block(tree) is not None:
            name = os.path.relpath(path, REPO)[: -len(".py")].replace(os.sep, ".")
            programs[name] = tree
    return programs


def test_every_program_runs_its_run_which_hands_main_to_the_runner():
    programs = program_modules()
    assert {"colorize_jax.main", "colorize_jax.colorize", "colorize_jax.tools.benchmark"} <= set(
        programs
    )
    for name, tree in programs.items():
        block = main_block(tree)
        assert len(block.body) == 1, f"{name}: the __main__ block does more than run()"
        call = block.body[0].value
        assert isinstance(call, ast.Call) and _called_name(call) == "run" and not call.args, name
        runs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "run"]
        assert len(runs) == 1, f"{name} has no top-level def run()"
        arguments = runs[0].args
        assert not (arguments.args or arguments.posonlyargs or arguments.kwonlyargs), name
        calls = {_called_name(n) for n in ast.walk(runs[0]) if isinstance(n, ast.Call)}
        assert "cli.run" in calls, f"{name}.run does not call cli.run"
