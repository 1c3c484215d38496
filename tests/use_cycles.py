#!/usr/bin/env python3
"""Module-level `use` cycles between sibling modules of each crate under functions/.

For every non-test source file, every `crate::…`, `super::…` and `self::…` path (in `use`
declarations, braces expanded, and inline in code) is resolved to the deepest module it
names. A path from module a::b::x to a::c::y is an edge b -> c among the children of `a`
(parent/child references are not sibling edges). Strongly connected components of more
than one module are reported, with the file and path behind each edge.
"""
import os, re, sys
from collections import defaultdict

ROOT = sys.argv[1] if len(sys.argv) > 1 else "."

def strip_tests(text):
    # drop `#[cfg(test)] mod x { ... }` blocks and `#[cfg(test)] mod x;` lines
    out, i = [], 0
    pat = re.compile(r"#\[cfg\(test\)\]\s*(pub(\([^)]*\))?\s+)?mod\s+\w+\s*(;|\{)")
    while True:
        m = pat.search(text, i)
        if not m:
            out.append(text[i:]); break
        out.append(text[i:m.start()])
        if m.group(3) == ";":
            i = m.end(); continue
        depth, j = 1, m.end()
        while j < len(text) and depth:
            if text[j] == "{": depth += 1
            elif text[j] == "}": depth -= 1
            j += 1
        i = j
    return "".join(out)

def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)

def expand(tree):
    """'a::{b, c::{d, e}}' -> ['a::b', 'a::c::d', 'a::c::e']"""
    tree = tree.strip()
    i = tree.find("{")
    if i < 0:
        return [tree]
    prefix, body = tree[:i], tree[i + 1:tree.rfind("}")]
    parts, depth, cur = [], 0, ""
    for ch in body:
        if ch == "," and depth == 0:
            parts.append(cur); cur = ""; continue
        depth += ch == "{"; depth -= ch == "}"
        cur += ch
    parts.append(cur)
    return [p for part in parts if part.strip() for p in expand(prefix + part.strip())]

def crate_modules(src):
    mods = {}
    for folder, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(folder, f), src)[:-3].split(os.sep)
            if rel[-1] in ("lib", "main") and len(rel) == 1:
                path = ()
            elif rel[-1] == "mod":
                path = tuple(rel[:-1])
            else:
                path = tuple(rel)
            if "tests" in path or path[-1:] == ("tests",):
                continue
            mods[os.path.join(folder, f)] = path
    return mods

def resolve(path, here, is_dir_module, modules):
    segs = [s.strip() for s in path.split("::")]
    segs = [re.sub(r"\s+as\s+\w+$", "", s) for s in segs]
    if segs[0] == "crate":
        base, rest = (), segs[1:]
    elif segs[0] in ("super", "self"):
        base = here if is_dir_module else here[:-1]   # the module's own path for `self`
        base = here
        rest = segs
        while rest and rest[0] in ("super", "self"):
            if rest[0] == "super":
                base = base[:-1]
            rest = rest[1:]
    else:
        return None
    target = base
    for s in rest:
        if target + (s,) in modules:
            target = target + (s,)
        else:
            break
    return target

def analyse(crate_dir):
    src = os.path.join(crate_dir, "src")
    files = crate_modules(src)
    modules = set(files.values())
    edges = defaultdict(list)  # (parent, a, b) -> [(file, path)]
    for file, here in files.items():
        if os.path.basename(file) == "main.rs":
            continue  # the binary is its own crate root
        text = strip_comments(strip_tests(open(file, encoding="utf-8").read()))
        paths = []
        for m in re.finditer(r"\buse\s+((?:crate|super|self)\b[^;]*);", text, flags=re.S):
            paths += expand(re.sub(r"\s+", " ", m.group(1)))
        code = re.sub(r"\buse\s+[^;]*;", "", text, flags=re.S)
        paths += re.findall(r"\b((?:crate|super)(?:::\w+)+)", code)
        for p in paths:
            t = resolve(p, here, os.path.basename(file) == "mod.rs", modules)
            if t is None:
                continue
            k = 0
            while k < min(len(here), len(t)) and here[k] == t[k]:
                k += 1
            if k == len(here) or k == len(t):
                continue
            edges[(here[:k], here[k], t[k])].append((os.path.relpath(file, ROOT), p))
    return edges

def sccs(nodes, adj):
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]
    def visit(v):
        index[v] = low[v] = n[0]; n[0] += 1; stack.append(v); on.add(v)
        for w in adj.get(v, ()):
            if w not in index:
                visit(w); low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v: break
            out.append(sorted(comp))
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return [c for c in out if len(c) > 1]

found = 0
for crate in sorted(os.listdir(os.path.join(ROOT, "functions"))):
    d = os.path.join(ROOT, "functions", crate)
    if not os.path.isdir(os.path.join(d, "src")):
        continue
    edges = analyse(d)
    by_parent = defaultdict(lambda: defaultdict(set))
    for (parent, a, b) in edges:
        by_parent[parent][a].add(b)
    crate_cycles = []
    for parent, adj in sorted(by_parent.items()):
        nodes = set(adj) | {b for bs in adj.values() for b in bs}
        for comp in sccs(nodes, adj):
            crate_cycles.append((parent, comp))
    if not crate_cycles:
        print(f"{crate}: no cycles")
    for parent, comp in crate_cycles:
        found += 1
        where = "::".join(("crate",) + parent)
        print(f"{crate}: cycle among {where}::{{{', '.join(comp)}}}")
        for a in comp:
            for b in comp:
                for file, p in edges.get((parent, a, b), [])[:3]:
                    print(f"    {a} -> {b}: {file}: {p}")
sys.exit(1 if found else 0)
