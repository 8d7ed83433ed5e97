#!/usr/bin/env python3
"""Fail when the top-level modules of a crate import each other in a circle.

Each top-level module (a file or directory under src/) is a node; `crate::other` anywhere in
its files (a `use`, a path, a doc link) is an edge to `other`. A circle means two parts of the
crate cannot be understood, changed or tested one without the other.

    scripts/import-cycles.py crates/trigapi/src crates/cache/src
"""
import collections
import pathlib
import re
import sys


def edges(src: pathlib.Path) -> dict:
    out = collections.defaultdict(set)
    for path in src.rglob("*.rs"):
        module = path.relative_to(src).parts[0].removesuffix(".rs")
        if module in ("lib", "main"):
            continue  # the root declares every module; it is not one of them
        for target in re.findall(r"crate::([a-z_][a-z0-9_]*)", path.read_text()):
            if target != module:
                out[module].add(target)
    return out


def cycle(graph: dict):
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def main() -> int:
    failed = False
    for src in map(pathlib.Path, sys.argv[1:]):
        found = cycle(edges(src))
        if found:
            print(f"{src}: modules import each other in a circle: {' -> '.join(found)}")
            failed = True
        else:
            print(f"{src}: no import circles between top-level modules")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
