"""Editor and agent latency on a code base: `cpg lsp` (pygls client) and
`cpg mcp` (the official MCP Python SDK), release build, embedded.

Usage:
  python3 scripts/bench-editors.py lsp CPG TREE [N [cpg lsp arguments...]]
  ~/.cache/cpg/mcp/venv/bin/python scripts/bench-editors.py mcp CPG TREE [N [arguments...]]

lsp (a minimal client of its own, so that the figures are the server's
and the pipe's): time from start to the first answer (initialize, then
references of a function; without the workspace cache, then again with
it), then, once the first diagnostics are published (warm), references and incoming calls p50/p99 over N
functions with callers, and the time from saving a new caller to
references showing it.
TREE is edited (a file is added, then removed): give a copy.
mcp: time to the first answer, then `callers` p50/p99 over N functions;
`--http URL` after N asks a coordinator's /mcp endpoint instead of
starting `cpg mcp`.
Prints one JSON object.
"""

import asyncio
import json
import pathlib
import random
import re
import statistics
import sys
import time


def quantiles(xs):
    xs = sorted(xs)
    if not xs:
        return {"n": 0}
    pick = lambda q: xs[min(len(xs) - 1, int(q * len(xs)))]
    return {"n": len(xs), "p50_ms": round(pick(0.5) * 1000, 2), "p99_ms": round(pick(0.99) * 1000, 2)}


def call_sites(tree: pathlib.Path, n: int):
    """(file, line, character, name) of remote calls `Mod.fun(` in the tree."""
    found = []
    pattern = re.compile(r"\b([A-Z][A-Za-z0-9_]*(?:\.[A-Z][A-Za-z0-9_]*)*)\.([a-z_][a-z0-9_]*[?!]?)\(")
    for f in sorted(tree.rglob("*.ex")):
        for i, line in enumerate(f.read_text(errors="replace").splitlines()):
            for m in pattern.finditer(line):
                found.append((f, i, len(line[: m.start(2)].encode("utf-16-le")) // 2, m.group(1), m.group(2)))
    random.Random(7).shuffle(found)
    return found[: n * 4]


class Raw:
    """A minimal LSP client (Content-Length framing, json): its own cost
    stays out of the figures, unlike a typed client's."""

    def __init__(self, proc):
        self.proc, self.next, self.diagnosed = proc, 0, False

    async def send(self, msg):
        body = json.dumps(msg).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        await self.proc.stdin.drain()

    async def request(self, method, params):
        self.next += 1
        await self.send({"jsonrpc": "2.0", "id": self.next, "method": method, "params": params})
        while True:
            length = 0
            while True:
                line = await self.proc.stdout.readline()
                if line in (b"\r\n", b"\n", b""):
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            msg = json.loads(await self.proc.stdout.readexactly(length))
            if msg.get("method") == "textDocument/publishDiagnostics":
                self.diagnosed = True
            if msg.get("id") == self.next:
                return msg.get("result")

    async def notify(self, method, params):
        await self.send({"jsonrpc": "2.0", "method": method, "params": params})


async def bench_lsp(cpg, tree, n):
    import asyncio.subprocess as sp

    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(cpg, "lsp", *EXTRA, stdin=sp.PIPE, stdout=sp.PIPE, stderr=sp.DEVNULL, limit=1 << 26)
    c = Raw(proc)
    await c.request("initialize", {"processId": None, "rootUri": tree.as_uri(), "capabilities": {}})
    await c.notify("initialized", {})
    sites = call_sites(tree, n)
    ref = lambda f, i, ch: {
        "textDocument": {"uri": f.as_uri()},
        "position": {"line": i, "character": ch},
        "context": {"includeDeclaration": False},
    }
    f, i, ch, _, _ = sites[0]
    await c.request("textDocument/references", ref(f, i, ch))
    first = time.monotonic() - started
    # Warm: the first whole-graph analysis (diagnostics) has been published,
    # so it does not share the cores with the requests measured.
    while not c.diagnosed and time.monotonic() - started < 60:
        await c.request("workspace/symbol", {"query": "no such function"})
        await asyncio.sleep(0.05)
    refs, incoming, used, target = [], [], 0, None
    for f, i, ch, module, name in sites:
        t0 = time.monotonic()
        r = await c.request("textDocument/references", ref(f, i, ch))
        dt = time.monotonic() - t0
        if not r:
            continue
        refs.append(dt)
        items = await c.request("textDocument/prepareCallHierarchy", ref(f, i, ch))
        if items:
            target = target or (items[0]["name"], f, i, ch)
            t0 = time.monotonic()
            await c.request("callHierarchy/incomingCalls", {"item": items[0]})
            incoming.append(time.monotonic() - t0)
        used += 1
        if used >= n:
            break
    # A new caller of a function with callers, saved (its arity from the
    # call hierarchy's name, Module.fun/arity).
    name, f, i, ch = target
    arity = int(name.rsplit("/", 1)[1])
    module, fun = name.rsplit("/", 1)[0].rsplit(".", 1)
    args = ", ".join(f"a{k}" for k in range(arity))
    fresh = tree / "lib" / "cpg_bench_fresh.ex"
    fresh.parent.mkdir(exist_ok=True)
    before = len(await c.request("textDocument/references", ref(f, i, ch)) or [])
    fresh.write_text(f"defmodule CpgBenchFresh do\n  def go({args}), do: {module}.{fun}({args})\nend\n")
    t0 = time.monotonic()
    await c.notify("textDocument/didSave", {"textDocument": {"uri": fresh.as_uri()}})
    while True:
        now = len(await c.request("textDocument/references", ref(f, i, ch)) or [])
        if now > before or time.monotonic() - t0 > 60:
            break
    visible = time.monotonic() - t0
    fresh.unlink()
    await c.notify("textDocument/didSave", {"textDocument": {"uri": fresh.as_uri()}})
    await c.request("shutdown", None)
    await c.notify("exit", None)
    await proc.wait()
    return {
        "first_answer_s": round(first, 3),
        "references": quantiles(refs),
        "incoming_calls": quantiles(incoming),
        "edit_visible_after_save_ms": round(visible * 1000, 1),
    }


async def bench_mcp(cpg, tree, n):
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    started = time.monotonic()
    if EXTRA[:1] == ["--http"]:
        from mcp.client.streamable_http import streamable_http_client

        transport = streamable_http_client(EXTRA[1])
    else:
        transport = stdio_client(StdioServerParameters(command=cpg, args=["mcp", *([] if EXTRA else [str(tree)]), *EXTRA]))
    async with transport as streams:
        r, w = streams[0], streams[1]
        async with ClientSession(r, w) as s:
            await s.initialize()
            listed = await s.call_tool("search_symbols", {"query": ".", "limit": 500})
            first = time.monotonic() - started
            names = [x["function"] for x in listed.structured_content["items"]]
            random.Random(7).shuffle(names)
            times = []
            for name in names[:n]:
                t0 = time.monotonic()
                await s.call_tool("callers", {"function": name})
                times.append(time.monotonic() - t0)
    return {"first_answer_s": round(first, 3), "callers": quantiles(times)}


EXTRA = []


def main():
    kind, cpg, tree = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3]).resolve()
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 200
    # More arguments go to `cpg lsp`/`cpg mcp` (--coordinator ... --insecure).
    EXTRA.extend(sys.argv[5:])
    run = bench_lsp if kind == "lsp" else bench_mcp
    # Embedded, the server caches the folder's summaries (_build/cpg/):
    # the first start goes without that cache (the dependencies' cache is
    # left as it is), a second start measures only the first answer with it.
    cache = tree / "_build" / "cpg" / "workspace.bin"
    if not EXTRA:
        cache.unlink(missing_ok=True)
    out = asyncio.run(run(cpg, tree, n))
    if not EXTRA:
        out["first_answer_s_with_cache"] = asyncio.run(run(cpg, tree, 1))["first_answer_s"]
    print(json.dumps(out))


main()
