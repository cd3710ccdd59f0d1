/**
 * Early stopping: the {@link EarlyStop} monitor on hand-made sequences of validation NLLs (both rules, NaN,
 * restarts, patience, state round trip), then runs of `gaussian_2d` that stop early, are interrupted and
 * resumed, and are resumed after they stopped.
 */
import assert from "node:assert/strict";
import { selectBackend } from "../lib/backend.ts";
import { resolveConfig } from "../lib/config.ts";
import { gaussian2d } from "../experiments/gaussian_2d.ts";
import { loadCheckpoint } from "../lib/runner/checkpoint.ts";
import { encodeCheckpoint } from "../lib/runner/checkpoint_format.ts";
import {
  checkState,
  EarlyStop,
  type EarlyStopOptions,
  type EarlyStopRule,
} from "../lib/runner/early_stop.ts";
import { Experiment } from "../lib/runner/experiment.ts";
import { Logger } from "../lib/runner/logger.ts";

/** The 1-based evaluations at which `update` reports a stop, feeding `values` in order. */
function stops(opts: EarlyStopOptions, values: readonly number[]): number[] {
  const m = new EarlyStop(opts);
  return values.flatMap((v, i) => (m.update(i + 1, v) ? [i + 1] : []));
}

const conv = (tol: number, patience: number): EarlyStopOptions => ({ rule: "converged", tol, patience });
const noImp = (tol: number, patience: number): EarlyStopOptions => ({
  rule: "no_improvement",
  tol,
  patience,
});

Deno.test("EarlyStop no_improvement: patience counts evaluations that do not beat best - tol*|best|", async (t) => {
  await t.step("stops at the patience-th evaluation without improvement", () => {
    assert.deepEqual(stops(noImp(0, 3), [5, 4, 4, 4.5, 4, 4.2]), [5, 6]);
    assert.deepEqual(stops(noImp(0, 1), [5, 4, 4.1]), [3]);
  });
  await t.step("an improvement restarts the count", () => {
    assert.deepEqual(stops(noImp(0, 3), [3, 3, 3, 2, 3, 3, 1, 2, 2]), []);
  });
  await t.step("tol: an improvement must exceed tol*|best|; best moves only on one", () => {
    const m = new EarlyStop(noImp(0.1, 2));
    m.update(1, 10);
    m.update(2, 9.5); // not below 10 - 1
    assert.deepEqual([m.state().best, m.state().count], [10, 1]);
    m.update(3, 8.9); // below 9
    assert.deepEqual([m.state().best, m.state().best_epoch, m.state().count], [8.9, 3, 0]);
    // Negative NLLs: |best| in the margin.
    assert.deepEqual(stops(noImp(0.1, 1), [-10, -10.5, -11.5]), [2]);
  });
  await t.step("a non-finite NLL is no improvement and never the best", () => {
    const m = new EarlyStop(noImp(0, 2));
    assert.equal(m.update(1, NaN), false);
    assert.deepEqual([m.state().best, m.state().count], [null, 1]);
    m.update(2, 3);
    assert.deepEqual([m.state().best, m.state().count], [3, 0]);
    assert.deepEqual(stops(noImp(0, 2), [3, Infinity, NaN]), [3]);
  });
});

Deno.test("EarlyStop converged: the original ConvergenceMonitor over evaluations", async (t) => {
  await t.step("patience passing checks after the first check: the earliest stop is evaluation P+2", () => {
    assert.deepEqual(stops(conv(0.01, 3), [1, 1, 1, 1, 1, 1]), [5, 6]);
    assert.deepEqual(stops(conv(0.01, 1), [1, 1, 1]), [3]);
    // The first check (v1 -> v2) never counts, passing or not.
    assert.deepEqual(stops(conv(0.01, 2), [5, 1, 1, 1]), [4]);
  });
  await t.step("relative change |v_k - v_k-1| / |v_k-1| below tol, strictly", () => {
    // 100 -> 99.5 -> 99.1 -> 98.8: changes 0.5%, 0.4%, 0.3%.
    assert.deepEqual(stops(conv(0.005, 2), [100, 99.5, 99.1, 98.8]), [4]);
    assert.deepEqual(stops(conv(0.003, 2), [100, 99.5, 99.1, 98.8]), []);
    // Negative values: relative to |v_k-1|.
    assert.deepEqual(stops(conv(0.01, 1), [-10, -10.05, -10.1]), [3]);
    assert.deepEqual(stops(conv(0, 1), [1, 1, 1, 1]), [], "tol 0 never converges");
    assert.deepEqual(stops(conv(0.5, 1), [0, 0, 0, 0]), [], "a zero previous value never passes");
  });
  await t.step("a failing check restarts the count; the next passing check counts again", () => {
    // Counts 0 (first check), 1, 2, then a 100% change: 0, then 1, 2, 3.
    assert.deepEqual(stops(conv(0.01, 3), [1, 1, 1, 1, 2, 2, 2, 2]), [8]);
    assert.deepEqual(stops(conv(0.01, 3), [1, 1, 1, 1, 1.5, 1.5, 1.5, 1.6, 1.6, 1.6]), []);
  });
  await t.step("a non-finite NLL empties the history; the first check after it does not count", () => {
    const m = new EarlyStop(conv(0.01, 3));
    [1, 1, 1, 1].forEach((v, i) => m.update(i + 1, v));
    assert.equal(m.state().count, 2);
    m.update(5, NaN);
    assert.deepEqual(m.state().history, []);
    assert.equal(m.stopped, false);
    // Without the NaN the 5th evaluation stops; with it two values must refill the history, then one
    // check restarts the count and three more pass.
    assert.deepEqual(stops(conv(0.01, 3), [1, 1, 1, 1, NaN, 1, 1, 1, 1, 1]), [10]);
    assert.deepEqual(stops(conv(0.01, 3), [1, 1, 1, 1, -Infinity, 1, 1, 1, 1, 1]), [10]);
  });
});

Deno.test("EarlyStop none never stops; options and states are checked", () => {
  const m = new EarlyStop({ rule: "none", tol: 0, patience: 1 });
  for (let i = 1; i <= 5; i++) assert.equal(m.update(i, 1), false);
  assert.deepEqual([m.state().evaluations, m.state().epoch, m.state().count], [5, 5, 0]);
  assert.throws(() => new EarlyStop(conv(0.01, 0)), /patience must be an integer of at least 1, got 0/);
  assert.throws(() => new EarlyStop(conv(NaN, 1)), /tol must be a finite number of at least 0, got NaN/);
  assert.throws(
    () => new EarlyStop(noImp(0, 1), m.state()),
    /state of rule "none" given to .* "no_improvement"/,
  );
  assert.equal(checkState(m.state()), null);
  assert.match(checkState({ ...m.state(), history: [1, 2, 3] })!, /field "history" is \[1,2,3\]/);
  assert.match(checkState({ ...m.state(), rule: "sometimes" })!, /field "rule" is "sometimes"/);
  assert.match(checkState({ ...m.state(), best: "1" })!, /field "best" is "1"/);
  assert.match(checkState(null)!, /is null, not an object/);
});

Deno.test("EarlyStop state survives JSON at every evaluation: the same stops and states", () => {
  const values = [4, 3.5, 3.4, 3.41, NaN, 3.39, 3.395, 3.394, 3.5, 3.393, 3.3931, 3.3932, 3.3933, 3.3934];
  for (const opts of [conv(0.01, 3), noImp(0.001, 3), noImp(0, 2)]) {
    const straight = new EarlyStop(opts);
    const want = values.map((v, i) => [straight.update(i + 1, v), straight.state()]);
    for (let cut = 0; cut <= values.length; cut++) {
      let m = new EarlyStop(opts);
      const got = [];
      for (const [i, v] of values.entries()) {
        if (i === cut) m = new EarlyStop(opts, JSON.parse(JSON.stringify(m.state())));
        got.push([m.update(i + 1, v), m.state()]);
      }
      assert.deepEqual(got, want, `${opts.rule}, resumed after evaluation ${cut}`);
    }
    assert.ok(want.some(([s]) => s), `${opts.rule} stops somewhere in the sequence`);
  }
});

// ---- runs ----

await selectBackend("wasm");

const SMALL = { n_train: 120, n_val: 40, n_test: 40, batch_size: 25, lr: 0.05, seed: 3, log_interval: 2 };
type Over = Record<string, number | boolean | string>;

/** A logger that keeps its human lines, and throws (a simulated crash) on a record `crash` matches. */
function logger(crash?: (r: Record<string, unknown>) => boolean) {
  const lines: string[] = [];
  const log = new Logger({ err: (s) => lines.push(s), out: () => {}, tty: false });
  if (crash) {
    log.onRecord((r) => {
      if (crash(r)) throw new Error(`simulated crash at ${JSON.stringify(r)}`);
    });
  }
  return { log, lines };
}

async function runGaussian(dir: string, over: Over, resume: string | null = null, log = logger().log) {
  const cfg = resolveConfig(gaussian2d.config, { ...SMALL, ...over });
  return await new Experiment(gaussian2d, cfg, { runDir: dir, resume, log, backend: null }).run();
}

const records = (dir: string) =>
  Deno.readTextFileSync(`${dir}/metrics.jsonl`).trimEnd().split("\n").map((l) => JSON.parse(l));
/** The records of `kinds`, sample files named without their directory (it differs between runs). */
const ofKinds = (dir: string, kinds: string[]) =>
  records(dir).filter((r) => kinds.includes(r.kind)).map((r) =>
    r.files ? { ...r, files: r.files.map((f: string) => f.slice(f.lastIndexOf("/") + 1)) } : r
  );
const TRAINING = ["train", "epoch", "eval", "early_stop", "samples"];

/** The summary without what differs between processes (wall times). */
const stable = ({ wall_s: _w, wall_s_this_process: _p, ...rest }: Record<string, unknown>) => rest;

/** Rules and settings that stop these runs well before 40 epochs (found by running them). */
const CASES: { rule: EarlyStopRule; over: Over; crashIn: number }[] = [
  // The original's settings (tol 1.5e-2, 3 epochs), evaluated every epoch.
  { rule: "converged", over: { early_stop_tol: 1.5e-2, early_stop_patience: 3 }, crashIn: 12 },
  // Every 2nd epoch; the crash leaves last.ckpt at an epoch that was not evaluated.
  {
    rule: "no_improvement",
    over: { early_stop_tol: 1e-3, early_stop_patience: 2, eval_epochs: 2 },
    crashIn: 8,
  },
];

Deno.test("a run with early_stop stops after the epoch its rule fires, and says so", async (t) => {
  const root = await Deno.makeTempDir();
  for (const { rule, over } of CASES) {
    await t.step(rule, async () => {
      const dir = `${root}/${rule}`;
      const { log, lines } = logger();
      const s = await runGaussian(dir, { ...over, early_stop: rule, epochs: 40 }, null, log);
      const k = s.stopped_epoch as number;
      assert.ok(Number.isInteger(k) && k < 40, `stopped_epoch ${k}`);
      assert.deepEqual([s.early_stop, s.epochs], [rule, k]);
      assert.deepEqual(
        JSON.parse(Deno.readTextFileSync(`${dir}/summary.json`)),
        JSON.parse(JSON.stringify(s)),
      );
      // The monitor saw every validation NLL the run logged: feeding them afresh fires at the same epoch.
      const vals = ofKinds(dir, ["eval"]).filter((r) => r.split === "val");
      const m = new EarlyStop({
        rule,
        tol: over.early_stop_tol as number,
        patience: over.early_stop_patience as number,
      });
      assert.deepEqual(vals.filter((r) => m.update(r.epoch, r.nll)).map((r) => r.epoch), [k]);
      const stop = ofKinds(dir, ["early_stop"]);
      assert.equal(stop.length, 1);
      assert.deepEqual([stop[0].epoch, stop[0].rule, stop[0].reason], [k, rule, m.reason()]);
      assert.ok(
        lines.some((l) => l.startsWith(`Early stopping (${rule}) after epoch ${k}: `)),
        lines.join(""),
      );
      assert.equal(Math.max(...ofKinds(dir, ["epoch"]).map((r) => r.epoch)), k);
      const last = await loadCheckpoint(`${dir}/last.ckpt`);
      assert.equal(last.header.epoch, k);
      assert.deepEqual(last.header.early_stop, m.state());
      // best.ckpt holds the monitor after the evaluation of its epoch.
      const best = await loadCheckpoint(`${dir}/best.ckpt`);
      const atBest = new EarlyStop(m.opts);
      for (const r of vals.filter((r) => r.epoch <= (s.best_epoch as number))) atBest.update(r.epoch, r.nll);
      assert.deepEqual(best.header.early_stop, atBest.state());
      // Final samples and the finish hook ran as at a normal end.
      assert.ok(Deno.statSync(`${dir}/samples/samples_epoch${k}.csv`).isFile);
      assert.ok(Number.isFinite(s.ref_mle_test_nll));
    });
  }
  await Deno.remove(root, { recursive: true });
});

Deno.test("an interrupted run with early_stop resumes and stops at the same epoch, same summary", async (t) => {
  const root = await Deno.makeTempDir();
  for (const { rule, over, crashIn } of CASES) {
    await t.step(rule, async () => {
      const cfg = { ...over, early_stop: rule, epochs: 40 };
      const straight = await runGaussian(`${root}/${rule}-a`, cfg);
      // A crash in the third batch of epoch `crashIn`, after some of its records were written.
      const b = `${root}/${rule}-b`;
      const crash = logger((r) => r.kind === "train" && r.epoch === crashIn && r.batch === 3).log;
      await assert.rejects(() => runGaussian(b, cfg, null, crash), /simulated crash/);
      assert.equal((await loadCheckpoint(`${b}/last.ckpt`)).header.epoch, crashIn - 1);
      const resumed = await runGaussian(b, cfg, b);
      assert.ok((straight.stopped_epoch as number) > crashIn, "the crash came before the stop");
      assert.deepEqual(
        stable({ ...resumed, run_dir: null, best_checkpoint: null }),
        stable({ ...straight, run_dir: null, best_checkpoint: null }),
      );
      assert.deepEqual(ofKinds(b, TRAINING), ofKinds(`${root}/${rule}-a`, TRAINING));
      const [la, lb] = [
        await loadCheckpoint(`${root}/${rule}-a/last.ckpt`),
        await loadCheckpoint(`${b}/last.ckpt`),
      ];
      assert.deepEqual(lb.header.early_stop, la.header.early_stop);
      assert.deepEqual(lb.tensors.params.map((p) => [...p.data]), la.tensors.params.map((p) => [...p.data]));
    });
  }
  await t.step("run with fewer epochs, then resumed with more", async () => {
    const { rule, over } = CASES[0];
    const straight = JSON.parse(Deno.readTextFileSync(`${root}/${rule}-a/summary.json`));
    const c = `${root}/${rule}-c`;
    const first = await runGaussian(c, { ...over, early_stop: rule, epochs: 10 });
    assert.deepEqual([first.stopped_epoch, first.epochs], [null, 10]);
    const resumed = await runGaussian(c, { ...over, early_stop: rule, epochs: 40 }, c);
    assert.deepEqual(
      stable({ ...resumed, run_dir: null, best_checkpoint: null }),
      stable({ ...straight, run_dir: null, best_checkpoint: null }),
    );
  });
  await Deno.remove(root, { recursive: true });
});

Deno.test("resuming a run that stopped early trains nothing more and rewrites the same summary", async (t) => {
  const root = await Deno.makeTempDir();
  const { rule, over } = CASES[0];
  const cfg = { ...over, early_stop: rule, epochs: 40 };
  const dir = `${root}/run`;
  const first = await runGaussian(dir, cfg);
  const k = first.stopped_epoch as number;
  const before = ofKinds(dir, TRAINING.filter((kind) => kind !== "samples"));
  await t.step("same config", async () => {
    const { log, lines } = logger();
    const again = await runGaussian(dir, cfg, dir, log);
    assert.deepEqual(stable(again), stable(first));
    assert.deepEqual(
      JSON.parse(Deno.readTextFileSync(`${dir}/summary.json`)),
      JSON.parse(JSON.stringify(again)),
    );
    assert.deepEqual(ofKinds(dir, TRAINING.filter((kind) => kind !== "samples")), before);
    assert.ok(lines.some((l) => l.includes(`The run had stopped early at epoch ${k} (`)), lines.join(""));
    assert.equal((await loadCheckpoint(`${dir}/last.ckpt`)).header.epoch, k);
  });
  await t.step("a lower patience that the state already meets stops there, with its record", async () => {
    const d = `${root}/low`;
    const s = await runGaussian(d, { ...cfg, early_stop_patience: 5, epochs: k });
    assert.equal(s.stopped_epoch, null);
    const low = await runGaussian(d, { ...cfg, early_stop_patience: 1, epochs: 40 }, d);
    assert.deepEqual([low.stopped_epoch, low.epochs], [k, k]);
    assert.deepEqual(ofKinds(d, ["early_stop"]).map((r) => r.epoch), [k]);
  });
  await t.step("another rule starts a fresh monitor, with a warning, and trains on", async () => {
    const { log, lines } = logger();
    const on = await runGaussian(dir, { ...cfg, early_stop: "none", epochs: k + 2 }, dir, log);
    assert.deepEqual([on.early_stop, on.stopped_epoch, on.epochs], ["none", null, k + 2]);
    assert.ok(
      lines.some((l) =>
        l.includes(`warning: early_stop is "none", the checkpoint's monitor is "${rule}"`) &&
        l.includes(`starts afresh after epoch ${k}`)
      ),
      lines.join(""),
    );
    assert.deepEqual(ofKinds(dir, ["epoch"]).map((r) => r.epoch).slice(-2), [k + 1, k + 2]);
  });
  await Deno.remove(root, { recursive: true });
});

Deno.test("a default run records early_stop none; eval_epochs beyond epochs is allowed", async () => {
  const dir = await Deno.makeTempDir();
  const s = await runGaussian(dir, { epochs: 2 });
  assert.deepEqual([s.early_stop, s.stopped_epoch, s.epochs], ["none", null, 2]);
  const last = await loadCheckpoint(`${dir}/last.ckpt`);
  assert.deepEqual([last.header.early_stop?.rule, last.header.early_stop?.evaluations], ["none", 2]);
  assert.deepEqual(ofKinds(dir, ["early_stop"]), []);
  // The rule can only act at the last epoch's evaluation: patience 1 never gets there.
  const late = await runGaussian(`${dir}/late`, {
    epochs: 3,
    eval_epochs: 10,
    early_stop: "no_improvement",
    early_stop_patience: 1,
  });
  assert.deepEqual([late.stopped_epoch, late.epochs], [null, 3]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a checkpoint without early-stopping state resumes with a fresh monitor", async () => {
  const dir = await Deno.makeTempDir();
  await runGaussian(dir, { epochs: 2 });
  // Rewrite last.ckpt as a checkpoint of before early stopping: the same file without the field.
  const ckpt = await loadCheckpoint(`${dir}/last.ckpt`);
  const { tensors: _tensors, early_stop: _state, ...meta } = ckpt.header;
  Deno.writeFileSync(`${dir}/last.ckpt`, encodeCheckpoint(meta, ckpt.tensors));
  assert.equal((await loadCheckpoint(`${dir}/last.ckpt`)).header.early_stop, undefined);
  const { log, lines } = logger();
  const s = await runGaussian(dir, { epochs: 3, early_stop: "no_improvement" }, dir, log);
  assert.deepEqual([s.epochs, s.stopped_epoch], [3, null]);
  assert.ok(lines.some((l) => /warning: .*last\.ckpt" has no early-stopping state/.test(l)), lines.join(""));
  assert.deepEqual((await loadCheckpoint(`${dir}/last.ckpt`)).header.early_stop?.evaluations, 1);
  // A damaged state is refused, naming the file.
  const bad = await loadCheckpoint(`${dir}/last.ckpt`);
  const { tensors: _t, ...badMeta } = bad.header;
  Deno.writeFileSync(
    `${dir}/last.ckpt`,
    encodeCheckpoint({ ...badMeta, early_stop: { ...bad.header.early_stop!, count: -1 } }, bad.tensors),
  );
  await assert.rejects(
    () => runGaussian(dir, { epochs: 4, early_stop: "no_improvement" }, dir),
    /Cannot load checkpoint ".*last\.ckpt": early-stopping state field "count" is -1/,
  );
  await Deno.remove(dir, { recursive: true });
});
