"""Lines of code and the longest functions, for the closing notes.

    python scripts/code_size.py [--top N] [--functions DIR] [DIR ...]
        (default: lines of lvstop/ and tests/, the 10 longest functions in lvstop/)

Lines are physical lines of the .py files (and, in brackets, those that are neither blank nor
only a comment). A function's length runs from its `def` (decorators excluded) to its last line,
so a nested function counts inside its parent too; statements are every statement in the body,
nested blocks included, nested functions' bodies not (close to pylint's count; the gate itself
is ruff's PLR0915, whose count differs a little).
"""

from __future__ import annotations

import argparse
import ast
import sys
from dataclasses import dataclass
from pathlib import Path

_FUNCTION = (ast.FunctionDef, ast.AsyncFunctionDef)


@dataclass(frozen=True)
class Function:
    path: Path
    line: int
    name: str
    lines: int
    statements: int


def count_statements(body: list[ast.stmt]) -> int:
    """Statements in a body, nested blocks included (not nested functions' bodies)."""
    total = 0
    for stmt in body:
        total += 1
        if isinstance(stmt, (*_FUNCTION, ast.ClassDef)):
            continue
        for field in ("body", "orelse", "finalbody"):
            inner = getattr(stmt, field, None)
            if isinstance(inner, list):
                total += count_statements(inner)
        if isinstance(stmt, ast.Try | ast.TryStar):
            for handler in stmt.handlers:
                total += count_statements(handler.body)
        if isinstance(stmt, ast.Match):
            for case in stmt.cases:
                total += count_statements(case.body)
    return total


def functions_in(path: Path) -> list[Function]:
    tree = ast.parse(path.read_bytes(), filename=str(path))
    found: list[Function] = []
    for node in ast.walk(tree):
        if isinstance(node, _FUNCTION):
            end = node.end_lineno or node.lineno
            found.append(
                Function(
                    path=path,
                    line=node.lineno,
                    name=node.name,
                    lines=end - node.lineno + 1,
                    statements=count_statements(node.body),
                )
            )
    return found


def line_counts(path: Path) -> tuple[int, int]:
    """(physical lines, lines neither blank nor only a comment)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    code = sum(1 for line in lines if line.strip() and not line.strip().startswith("#"))
    return len(lines), code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="*", default=["lvstop", "tests"])
    parser.add_argument("--top", type=int, default=10, help="how many functions (default 10)")
    parser.add_argument("--functions", default="lvstop", help="where to look for functions")
    args = parser.parse_args(argv)
    functions: list[Function] = []
    for name in args.dirs:
        root = Path(name)
        if not root.is_dir():
            print(f"code_size: {name}: not a directory", file=sys.stderr)
            return 2
        files = sorted(p for p in root.rglob("*.py") if "__snapshots__" not in p.parts)
        physical = code = 0
        for path in files:
            total, nonblank = line_counts(path)
            physical += total
            code += nonblank
        plural = "" if len(files) == 1 else "s"
        print(f"{name}/: {len(files)} file{plural}, {physical:,} lines ({code:,} code)")
    root = Path(args.functions)
    if not root.is_dir():
        print(f"code_size: {args.functions}: not a directory", file=sys.stderr)
        return 2
    for path in sorted(root.rglob("*.py")):
        functions.extend(functions_in(path))
    print(f"\nlongest functions in {args.functions}/:")
    functions.sort(key=lambda f: (-f.lines, str(f.path), f.line))
    for function in functions[: args.top]:
        where = f"{function.path}:{function.line}"
        print(f"{function.lines:5} lines {function.statements:4} stmts  {function.name}  {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
