#!/usr/bin/env python3
"""include_graph: the module graph of the product's #include lines, checked.

A module is x.c + x.h in one folder (either may be missing). A module A
depends on B when A's .c or .h includes B's .h. The check fails (exit 1)
when the graph has a cycle (every cycle is printed) or a layering rule
breaks:
  - common/ includes nothing of ours outside common/;
  - net/ includes only common/ and net/;
  - sync/ includes only common/ and sync/;
  - dataplane/ and controlplane/ never include each other's headers, except
    in a program's main.c (the router's main composes both).
System headers (<...>) are not ours. A quoted include is resolved next to
the including file, then from the repository root; generated protobuf-c
headers (x.pb-c.h) resolve to proto/x.proto. A quoted include that resolves
to nothing is reported as an error (a typo would hide an edge).

Usage:
  include_graph.py [--root DIR] [--print] FOLDER...   check (and print) these folders
  include_graph.py --self-test                        the script's own tests
Standard library only.
"""

import argparse
import os
import re
import sys
import tempfile

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
SOURCES = (".c", ".h")

# (folder, folders it may include besides itself); None: anything but the
# folders listed in FORBIDDEN.
ALLOWED = {
    "common": ("common",),
    "net": ("common", "net"),
    "sync": ("common", "sync"),
}
FORBIDDEN = {
    "dataplane": ("controlplane",),
    "controlplane": ("dataplane",),
}


def top_folder(module):
    return module.split("/", 1)[0]


def module_of(path):
    """'dataplane/conn.c' -> 'dataplane/conn'; .proto files keep their path."""
    base, ext = os.path.splitext(path)
    return base if ext in SOURCES + (".proto",) else None


def resolve(root, including, name):
    """Repository-relative path of a quoted include, or None."""
    here = os.path.dirname(including)
    for cand in (os.path.join(here, name), name):
        cand = os.path.normpath(cand)
        if not cand.startswith("..") and os.path.isfile(os.path.join(root, cand)):
            return cand
    if name.endswith(".pb-c.h"):
        proto = os.path.join("proto", name[: -len(".pb-c.h")] + ".proto")
        if os.path.isfile(os.path.join(root, proto)):
            return proto
    return None


def scan(root, folders):
    """Returns (graph {module: {module: [(file, line)]}}, unresolved [(file, name)])."""
    graph, unresolved = {}, []
    for folder in folders:
        base = os.path.join(root, folder)
        if not os.path.isdir(base):
            raise SystemExit("include_graph: no folder %s under %s" % (folder, root))
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            for fname in sorted(filenames):
                if not fname.endswith(SOURCES):
                    continue
                rel = os.path.relpath(os.path.join(dirpath, fname), root)
                src = module_of(rel)
                edges = graph.setdefault(src, {})
                with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
                    text = f.read()
                for m in INCLUDE.finditer(text):
                    target = resolve(root, rel, m.group(1))
                    if target is None:
                        unresolved.append((rel, m.group(1)))
                        continue
                    dst = module_of(target)
                    if dst is not None and dst != src:
                        line = text.count("\n", 0, m.start()) + 1
                        edges.setdefault(dst, []).append((rel, line))
    return graph, unresolved


def cycles(graph):
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, {}))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, it = work[-1]
            advanced = False
            for nxt in it:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, {})))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    comp.append(m)
                    if m == node:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def cycle_path(graph, comp):
    """One cycle through the component's first module, as a list of modules."""
    members, start = set(comp), comp[0]
    prev, queue = {start: None}, [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(graph.get(node, {})):
            if nxt == start:
                path = [node]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return list(reversed(path)) + [start]
            if nxt in members and nxt not in prev:
                prev[nxt] = node
                queue.append(nxt)
    return comp + [start]


def layering(graph):
    errors = []
    for src in sorted(graph):
        sf = top_folder(src)
        for dst, where in sorted(graph[src].items()):
            df = top_folder(dst)
            composer = src.rsplit("/", 1)[-1] == "main"
            bad = (sf in ALLOWED and df not in ALLOWED[sf]) or (
                df in FORBIDDEN.get(sf, ()) and not composer)
            if bad:
                f, line = where[0]
                errors.append("%s includes %s (%s:%d): %s/ may not include %s/" %
                              (src, dst, f, line, sf, df))
    return errors


def check(root, folders, show, out=sys.stdout):
    graph, unresolved = scan(root, folders)
    failed = False
    if show:
        for src in sorted(graph):
            deps = sorted(graph[src])
            print("%s -> %s" % (src, ", ".join(deps) if deps else "(nothing)"), file=out)
    for f, name in unresolved:
        print("include_graph: %s: \"%s\" resolves to no file" % (f, name), file=out)
        failed = True
    for comp in cycles(graph):
        print("include_graph: cycle: %s (%d modules tied: %s)" %
              (" -> ".join(cycle_path(graph, comp)), len(comp), " ".join(comp)), file=out)
        failed = True
    for err in layering(graph):
        print("include_graph: layering: %s" % err, file=out)
        failed = True
    if not failed:
        print("include_graph: %d modules in %s: no cycle, layering kept" %
              (len(graph), " ".join(folders)), file=out)
    return 1 if failed else 0


def self_test():
    import io
    import shutil

    def tree(files):
        d = tempfile.mkdtemp(prefix="include_graph.")
        for path, text in files.items():
            full = os.path.join(d, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "w") as f:
                f.write(text)
        return d

    cases = [
        ("acyclic", 0, {"common/a.h": '#include "b.h"\n#include <stdio.h>\n',
                        "common/a.c": '#include "a.h"\n',
                        "common/b.h": "", "common/b.c": '#include "b.h"\n',
                        "net/n.c": '#include "common/a.h"\n#include "n.h"\n', "net/n.h": ""}),
        ("cycle through a .c", 1, {"common/a.h": "", "common/a.c": '#include "b.h"\n',
                                   "common/b.h": "", "common/b.c": '#include "a.h"\n'}),
        ("three-module cycle", 1, {"x/a.h": '#include "b.h"\n', "x/b.h": '#include "c.h"\n',
                                   "x/c.c": '#include "a.h"\n', "x/c.h": ""}),
        ("common reaches out", 1, {"common/a.c": '#include "../dataplane/d.h"\n',
                                   "dataplane/d.h": ""}),
        ("net includes dataplane", 1, {"net/n.c": '#include "dataplane/d.h"\n',
                                       "dataplane/d.h": ""}),
        ("dataplane includes controlplane", 1,
         {"dataplane/d.c": '#include "../controlplane/c.h"\n', "controlplane/c.h": ""}),
        ("a program's main composes both planes", 0,
         {"dataplane/main.c": '#include "../controlplane/c.h"\n', "controlplane/c.h": ""}),
        ("unresolved include", 1, {"common/a.c": '#include "missing.h"\n'}),
    ]
    failures = 0
    for name, want, files in cases:
        root = tree(files)
        folders = sorted({p.split("/")[0] for p in files})
        sink = io.StringIO()
        try:
            got = check(root, folders, True, out=sink)
        finally:
            shutil.rmtree(root)
        ok = got == want and (want == 0 or "include_graph: " in sink.getvalue())
        print("%s: %s (exit %d, want %d)" % ("ok" if ok else "FAIL", name, got, want))
        if not ok:
            print(sink.getvalue())
            failures += 1
    return 1 if failures else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=os.path.normpath(os.path.join(os.path.dirname(
        os.path.abspath(__file__)), "..", "..")), help="repository root")
    ap.add_argument("--print", dest="show", action="store_true", help="print the module graph")
    ap.add_argument("--self-test", action="store_true", help="run the script's own tests")
    ap.add_argument("folders", nargs="*", help="folders to check, relative to the root")
    args = ap.parse_args()
    if args.self_test:
        return self_test()
    if not args.folders:
        ap.error("name the folders to check")
    return check(args.root, args.folders, args.show)


if __name__ == "__main__":
    sys.exit(main())
