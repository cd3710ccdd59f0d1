import assert from "node:assert/strict";
import { formatRecord, Logger, Progress } from "../lib/runner/logger.ts";

function capture(opts: { json?: boolean; quiet?: boolean; tty?: boolean } = {}) {
  const out: string[] = [], err: string[] = [];
  const log = new Logger({
    ...opts,
    out: (s) => out.push(s),
    err: (s) => err.push(s),
    tty: opts.tty ?? false,
  });
  return { log, out, err };
}

Deno.test("Logger.metric() writes JSON lines to stdout with --json and readable lines to stderr without", () => {
  const j = capture({ json: true });
  j.log.metric("eval", { split: "val", nll: 1.5 });
  j.log.info("human text");
  assert.deepEqual(j.out.map((l) => JSON.parse(l)), [{ kind: "eval", split: "val", nll: 1.5 }]);
  assert.deepEqual(j.err, ["human text\n"]);

  const h = capture();
  h.log.metric("eval", { split: "val", nll: 1.5 });
  assert.deepEqual(h.out, []);
  assert.deepEqual(h.err, ["eval split=val nll=1.5000\n"]);
});

Deno.test("Logger.warn() prints even when quiet; info() does not", () => {
  const q = capture({ quiet: true });
  q.log.info("hidden");
  q.log.warn("shown");
  assert.deepEqual(q.err, ["warning: shown\n"]);
});

Deno.test("Logger.onRecord() listeners see every record until removed", () => {
  const { log } = capture();
  const seen: unknown[] = [];
  const stop = log.onRecord((r) => seen.push(r.kind));
  log.metric("a", {});
  stop();
  log.metric("b", {});
  assert.deepEqual(seen, ["a"]);
});

Deno.test("formatRecord() rounds numbers and skips nested objects", () => {
  assert.equal(formatRecord({ kind: "x", n: 3, v: 0.123456789, o: { a: 1 }, s: "t" }), "x n=3 v=0.12346 s=t");
});

Deno.test("Progress prints plain lines without a TTY: at the end, and not once per tick", () => {
  const { log, err } = capture();
  const p = new Progress(log, "epoch 1/1", 50);
  for (let i = 0; i < 50; i++) p.tick();
  p.done();
  assert.equal(err.length, 1, err.join(""));
  assert.match(err[0], /^epoch 1\/1 50\/50 /);
});

Deno.test("Progress redraws in place on a TTY", () => {
  const { log, err } = capture({ tty: true });
  const p = new Progress(log, "e", 2);
  p.tick();
  p.tick();
  p.done();
  assert.ok(err[0].startsWith("\re ["), JSON.stringify(err[0]));
  assert.match(err.at(-2)!, /\[#{30}\] 2\/2/);
  assert.equal(err.at(-1), "\n");
});

Deno.test("Logger.withFields() tags every record of a sub-run, on the same outputs, without shared listeners", () => {
  const { log, out } = capture({ json: true });
  const seen: unknown[] = [];
  log.onRecord((r) => seen.push(r));
  const sub = log.withFields({ class: "aa" });
  sub.metric("eval", { nll: 2 });
  log.metric("summary", {});
  assert.deepEqual(out.map((l) => JSON.parse(l)), [{ kind: "eval", class: "aa", nll: 2 }, {
    kind: "summary",
  }]);
  assert.deepEqual(seen, [{ kind: "summary" }]);
});
