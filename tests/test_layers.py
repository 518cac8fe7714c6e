"""The package's shape: layers without import cycles, and sizes kept small.

Read from the source with ``ast``: every import counts, at module level or
inside a function, so a cycle hidden in a function-level import fails too.
"""

import ast
from pathlib import Path

import sklearn_adamlr

PACKAGE = Path(sklearn_adamlr.__file__).parent
NAME = "sklearn_adamlr"

# Functions compiled by numba, where one long function compiles faster
# (measured for the linear CSR epoch: a first fit of minibatch on CSR,
# empty cache, 7.3-8.4 s as a step inlined into the epoch, 5.5-6.9 s as
# one function; docs/architecture.rst).
COMPILED = {
    ("_kernels/linear.py", "_csr_linear_epoch"),
    ("_kernels/saga.py", "_csr_epoch"),
    ("solvers/_adam.py", "_sparse_epoch"),
}


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join((NAME, *parts)), path


def _imports(module, path):
    """The package's modules that ``module`` imports, anywhere in its source."""
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    known = dict(_modules())
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # ``from package import submodule`` imports the submodule
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(name for name in names if name in known and name != module)
    return found


def _graph():
    return {module: _imports(module, path) for module, path in _modules()}


def _cycles(graph):
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_one_that_imports_it():
    graph = _graph()
    # a package's __init__ re-exports its modules: its imports of them are
    # the package's face, not a layer (the modules never import it back)
    packages = [m for m, path in _modules() if path.name == "__init__.py"]
    for package in packages:
        for module, imported in graph.items():
            if module.startswith(package + "."):
                imported.discard(package)
    assert _cycles(graph) == []


def test_the_cycle_check_finds_a_function_level_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_the_loop_and_the_engines_stand_below_dask():
    graph = _graph()
    for low in ("_engines", "_training", "_plan", "_problem", "_monitors"):
        assert f"{NAME}._dask" not in graph[f"{NAME}.{low}"], low


def test_no_module_is_over_600_lines():
    sizes = {module: path.read_text().count("\n") for module, path in _modules()}
    assert {m: n for m, n in sizes.items() if n > 600} == {}


def test_no_function_is_over_100_lines_but_the_compiled_kernels():
    long = set()
    for _, path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef):
                if node.end_lineno - node.lineno + 1 > 100:
                    long.add((path.relative_to(PACKAGE).as_posix(), node.name))
    assert long <= COMPILED
    # and they are compiled: passed to numba (_numba.jit or specialise)
    for file, name in COMPILED:
        tree = ast.parse((PACKAGE / file).read_text())
        compiled = [
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None))
            in ("jit", "specialise")
            and node.args
            and getattr(node.args[0], "id", None) == name
        ]
        assert compiled, f"{file}: {name} is not compiled"
