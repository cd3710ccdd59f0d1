/**
 * The module graph of every entry point has no import cycle (a lower layer never imports a higher one):
 * `deno info --json` gives the graph, Tarjan's algorithm its strongly connected components.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);
/** Entry points: the CLI, the tasks of deno.json, the worker thread, the bench. */
const ENTRIES = [
  "main.ts",
  "lib/launch/status_main.ts",
  "lib/compare/cli.ts",
  "lib/data/timit/mini_timit.ts",
  "lib/parallel/worker.ts",
  "bench/bench.ts",
  "bench/wat_listing.ts",
  "bench/ab_inprocess.ts",
];

interface InfoModule {
  readonly specifier: string;
  readonly dependencies?: readonly { code?: { specifier: string }; type?: { specifier: string } }[];
}

async function localGraph(entry: string): Promise<Map<string, string[]>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`deno info ${entry}: ${new TextDecoder().decode(out.stderr)}`);
  const modules = (JSON.parse(new TextDecoder().decode(out.stdout)) as { modules: InfoModule[] }).modules;
  const local = (s: string | undefined): s is string => s !== undefined && s.startsWith("file://");
  return new Map(
    modules.filter((m) => local(m.specifier)).map((m) => [
      m.specifier,
      (m.dependencies ?? []).flatMap((d) => [d.code?.specifier, d.type?.specifier]).filter(local),
    ]),
  );
}

/** The strongly connected components with more than one module (each an import cycle). */
export function cycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const index = new Map<string, number>(), low = new Map<string, number>();
  const stack: string[] = [], onStack = new Set<string>(), found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1) found.push(comp.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

Deno.test("cycles() finds a cycle of three modules and nothing in a tree", () => {
  assert.deepEqual(cycles(new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]], ["d", ["a"]]])), [[
    "a",
    "b",
    "c",
  ]]);
  assert.deepEqual(cycles(new Map([["a", ["b", "c"]], ["b", ["c"]], ["c", []]])), []);
});

Deno.test("no entry point's module graph has an import cycle", async () => {
  for (const entry of ENTRIES) {
    const found = cycles(await localGraph(entry)).map((c) => c.map((s) => s.slice(ROOT.href.length)));
    assert.deepEqual(found, [], `${entry}: import cycles ${JSON.stringify(found)}`);
  }
});
