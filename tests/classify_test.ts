import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { selectBackend } from "../lib/backend.ts";
import {
  assignShards,
  type ClassCount,
  parseClasses,
  parseShard,
  shardClasses,
} from "../lib/classify/classes.ts";
import { configArgs } from "../lib/classify/jobs.ts";
import type { LikelihoodTable } from "../lib/classify/ml.ts";
import {
  chanceLevels,
  classifyMl,
  confusionMatrix,
  confusionScores,
  logPriors,
  perClassNllPerFrame,
} from "../lib/classify/ml.ts";
import {
  CLAIM_FAILED,
  classRunDir,
  classRunStatus,
  findClassModels,
  loadClassModel,
  trainPerClass,
} from "../lib/classify/per_class.ts";
import { applyProfile } from "../lib/classify/profile.ts";
import { comparisonTable, confusionCsv, confusionPicture, variantReport } from "../lib/classify/report.ts";
import { realVsGeneratedPicture } from "../lib/classify/samples.ts";
import { buildLikelihoodTable, exampleLogLik } from "../lib/classify/score.ts";
import { SegmentClasses } from "../lib/classify/segment_classes.ts";
import { EsnStatePool, sameReservoir } from "../lib/classify/shared_states.ts";
import { classExperiment, loadDynamicClassModel } from "../lib/classify/stages.ts";
import { ConfigError, resolveConfig } from "../lib/config.ts";
import { type SequenceBatch, SequenceDataset } from "../lib/data/sequences.ts";
import { buildDynamicModel } from "../lib/dynamic/build.ts";
import { dynamicModelConfig } from "../lib/dynamic/config.ts";
import type { DynamicModel } from "../lib/dynamic/dynamic_flow.ts";
import { EchoStateNetwork } from "../lib/esn.ts";
import { Rng } from "../lib/rng.ts";
import { acquireRunLock, RunLockError } from "../lib/runner/run_lock.ts";
import { experimentConfig } from "../lib/runner/common_config.ts";
import { Logger } from "../lib/runner/logger.ts";
import { join } from "../lib/runner/run_dir.ts";
import type { ExperimentSpec } from "../lib/runner/types.ts";

await selectBackend("wasm");

/** 4 examples x 3 classes; example 3's row ties classes 1 and 2 and has a NaN. */
const TABLE: LikelihoodTable = {
  classes: ["a", "b", "c"],
  labels: Int32Array.from([0, 1, 2, 2]),
  logLik: Float64Array.from([
    -1,
    -5,
    -9, // a wins (right)
    -4,
    -1,
    -3, // b wins (right)
    -1,
    -6,
    -2, // a wins (wrong: true c)
    NaN,
    -3,
    -3, // tie b/c: lowest index b (wrong); NaN never wins
  ]),
  frames: Int32Array.from([2, 4, 1, 3]),
};

Deno.test("classifyMl() picks the class with the highest log-likelihood (plus log prior)", async (t) => {
  await t.step("no prior: argmax, ties to the lowest index, NaN never wins", () => {
    assert.deepEqual(Array.from(classifyMl(TABLE)), [0, 1, 0, 1]);
  });
  await t.step("a prior can change the decision", () => {
    // The log prior favours c by 1.5 nats: example 2 becomes c (-2 + 0 > -1 - 1.5), so does example 3.
    const prior = [-1.5, -1.5, 0];
    assert.deepEqual(Array.from(classifyMl(TABLE, prior)), [0, 1, 2, 2]);
  });
  await t.step("logPriors() are log relative frequencies", () => {
    const lp = logPriors([1, 3]);
    assert.ok(Math.abs(lp[0] - Math.log(0.25)) < 1e-12 && Math.abs(lp[1] - Math.log(0.75)) < 1e-12);
  });
  await t.step("a table of the wrong shape is refused", () => {
    assert.throws(
      () => classifyMl({ ...TABLE, logLik: new Float64Array(5) }),
      /5 log-likelihoods for 4 examples x 3/,
    );
  });
});

Deno.test("confusionMatrix() and confusionScores() on a hand-made table", () => {
  const pred = classifyMl(TABLE);
  const m = confusionMatrix(TABLE.labels, pred, 3);
  // rows true a, b, c; columns predicted a, b, c
  assert.deepEqual(Array.from(m), [1, 0, 0, 0, 1, 0, 1, 1, 0]);
  const s = confusionScores(m, 3);
  assert.equal(s.accuracy, 2 / 4);
  assert.deepEqual(s.perClass, [1, 1, 0]);
  assert.deepEqual(s.support, [1, 1, 2]);
  assert.equal(s.balancedAccuracy, 2 / 3);
  const empty = confusionScores(confusionMatrix([0], [0], 2), 2);
  assert.deepEqual(empty.perClass, [1, null]);
  assert.equal(empty.balancedAccuracy, 1);
});

Deno.test("perClassNllPerFrame() and chanceLevels() on a hand-made table", () => {
  // a: -(-1)/2; b: -(-1)/4; c: -(-2 + -3)/(1 + 3)
  assert.deepEqual(perClassNllPerFrame(TABLE), [0.5, 0.25, 5 / 4]);
  const c = chanceLevels(TABLE.classes, TABLE.labels, [10, 5, 20]);
  assert.equal(c.uniform, 1 / 3);
  assert.equal(c.majorityClass, "c");
  assert.equal(c.majority, 2 / 4);
});

Deno.test("variantReport() gathers the scores; CSV, table and picture show them", () => {
  const r = variantReport("m", TABLE, [10, 5, 20], false);
  assert.equal(r.accuracy, 0.5);
  assert.equal(r.test_segments, 4);
  assert.equal(r.test_frames, 10);
  assert.equal(r.test_nll_per_frame, (1 + 1 + 2 + 3) / 10);
  assert.deepEqual(r.per_class.map((c) => c.accuracy), [1, 1, 0]);
  assert.equal(r.decision_rule, "argmax_k log p(x | k)");
  assert.equal(confusionCsv(r), "true\\predicted,a,b,c\na,1,0,0\nb,0,1,0\nc,1,1,0\n");
  const table = comparisonTable([r, variantReport("g", TABLE, [10, 5, 20], true)]);
  assert.match(table, /\| m \| 3 \| 4 \| 50\.0% \| 66\.7% \| 33\.3% \| 50\.0% \(c\) \| 0\.700 \|/);
  assert.match(table, /\| g \| 3 \| 4 \| 75\.0% \|/);
  const pic = confusionPicture(r);
  assert.ok(pic.width >= 3 * 12 && pic.height >= 3 * 12);
});

const COUNTS: ClassCount[] = [
  { name: "aa", segments: 5, frames: 50 },
  { name: "iy", segments: 9, frames: 60 },
  { name: "n", segments: 9, frames: 40 },
  { name: "sil", segments: 20, frames: 400 },
  { name: "zh", segments: 0, frames: 0 },
];

Deno.test("parseClasses() reads lists and counts and refuses unknown labels", async (t) => {
  await t.step('"" is every class present in training', () => {
    assert.deepEqual(parseClasses("", COUNTS), ["aa", "iy", "n", "sil"]);
  });
  await t.step("a list keeps the training order", () => {
    assert.deepEqual(parseClasses("sil, aa", COUNTS), ["aa", "sil"]);
  });
  await t.step("a count takes the most frequent (ties by name)", () => {
    assert.deepEqual(parseClasses("2", COUNTS), ["iy", "sil"]);
    assert.deepEqual(parseClasses("4", COUNTS), ["aa", "iy", "n", "sil"]);
  });
  await t.step(
    "unknown, absent, duplicate and out-of-range are config errors listing the valid labels",
    () => {
      assert.throws(() => parseClasses("aa,xx", COUNTS), (e: Error) => {
        assert.ok(e instanceof ConfigError);
        assert.match(
          e.message,
          /unknown or absent class xx\. Valid labels \(present in training\): aa,iy,n,sil/,
        );
        return true;
      });
      assert.throws(() => parseClasses("zh", COUNTS), /absent class zh/);
      assert.throws(() => parseClasses("aa,aa", COUNTS), /"aa" is listed twice/);
      assert.throws(() => parseClasses("5", COUNTS), /between 1 and 4/);
      assert.throws(() => parseClasses("0", COUNTS), ConfigError);
    },
  );
});

Deno.test("parseShard() and shardClasses() put every class in exactly one shard", async (t) => {
  await t.step("i/n parses; empty is no shard; bad values are config (usage) errors", () => {
    assert.deepEqual(parseShard("2/3"), { index: 2, count: 3 });
    assert.equal(parseShard(""), null);
    for (const bad of ["0/2", "3/2", "1/0", "a/b", "1", "1/2/3", "-1/2"]) {
      assert.throws(
        () => parseShard(bad),
        (e: Error) => e instanceof ConfigError && /--shard expects i\/n/.test(e.message),
      );
    }
  });
  await t.step("every class in exactly one shard, for 1 to 6 shards", () => {
    const classes = ["aa", "iy", "n", "sil"];
    for (let n = 1; n <= 6; n++) {
      const all = Array.from(
        { length: n },
        (_, i) => shardClasses(classes, COUNTS, { index: i + 1, count: n }),
      ).flat();
      assert.deepEqual([...all].sort(), classes, `n = ${n}`);
    }
    assert.deepEqual(shardClasses(classes, COUNTS, null), classes);
  });
  await t.step("the largest class gets a shard of its own when there are two", () => {
    assert.deepEqual(assignShards(["aa", "iy", "n", "sil"], COUNTS, 2), [["sil"], ["iy", "aa", "n"]]);
  });
});

const SCHEMA = experimentConfig({ ...dynamicModelConfig }, { lr: 1e-3 });

Deno.test("applyProfile() changes only keys still at their default; configArgs() writes the others", () => {
  const given = resolveConfig(SCHEMA, { esn_dim: 20 });
  const { cfg, changed, kept } = applyProfile(SCHEMA, given, { esn_dim: 500, epochs: 3 });
  assert.equal(cfg.esn_dim, 20);
  assert.equal(cfg.epochs, 3);
  assert.deepEqual(changed, [{ key: "epochs", from: 100, to: 3 }]);
  assert.deepEqual(kept, [{ key: "esn_dim", from: 20, to: 500 }]);
  assert.throws(() => applyProfile(SCHEMA, given, { nope: 1 }), /unknown key "nope"/);
  const args = configArgs(SCHEMA, resolveConfig(SCHEMA, { esn_dim: 20, name: "x", grad_clip_norm: 1 }), {
    seed: 0,
    checkpoint_path: null,
  });
  assert.deepEqual(args, [
    "--run_name",
    "x",
    "--seed",
    "0",
    "--grad_clip_norm",
    "1",
    "--checkpoint_path",
    "none",
    "--esn_dim",
    "20",
  ]);
});

const esn = (seed: number) => new EchoStateNetwork({ frameDim: 3, esnDim: 16 }, new Rng(`esn:${seed}`));

Deno.test("EsnStatePool encodes each segment once per reservoir and shares the states", () => {
  const r = new Rng(1);
  const seqs = [2, 5, 3].map((l) => r.normals(3 * l));
  const pool = new EsnStatePool({ test: seqs }, 2 ** 20);
  const a = esn(0), b = esn(0), c = esn(1);
  assert.ok(sameReservoir(a, b) && !sameReservoir(a, c));
  const sa = pool.states(a, "test", [0, 1, 2])!;
  assert.equal(pool.encodedFrames, 10);
  const sb = pool.states(b, "test", [2, 0])!;
  assert.equal(pool.encodedFrames, 10, "the same reservoir re-encodes nothing");
  assert.equal(sb[0], sa[2]);
  assert.deepEqual(Array.from(sa[1]), Array.from(a.encodePacked(seqs[1], [5])));
  pool.states(c, "test", [0]);
  assert.equal(pool.encodedFrames, 12, "another reservoir gets its own states");
  assert.equal(pool.reservoirs, 2);
  const p = pool.provider(b, { test: [1] });
  assert.equal(p.key, b.fingerprint());
  assert.equal(p.states("test")![0], sa[1]);
  assert.equal(p.states("train"), null);
  const small = new EsnStatePool({ test: seqs }, 4 * 16 * 4, new Logger({ err: () => {} }));
  assert.equal(small.states(a, "test", [1]), null, "5 frames do not fit a 4-frame budget");
  pool.release("test");
  assert.equal(pool.bytes, 0);
  for (const e of [a, b, c]) e.buffers().forEach(([, v]) => v.dispose());
});

/** Class k: sequences of 3-D frames around mean 2k. */
function classData(k: number): SequenceDataset {
  const r = new Rng(`data:${k}`);
  const draw = (n: number) =>
    Array.from({ length: n }, () => r.normals(3 * (2 + r.int(4))).map((v) => v + 2 * k));
  return new SequenceDataset({ train: draw(24), val: draw(8), test: draw(8) }, 3);
}

/** Small class models that train in well under a second per class. */
const tinyClassConfig = () =>
  resolveConfig(SCHEMA, {
    esn_dim: 12,
    hidden_layer_dim: 6,
    n_flow_layers: 1,
    epochs: 2,
    batch_size: 8,
    lr: 0.02,
    log_interval: 0,
  });

Deno.test("trainPerClass() trains, skips finished classes unless retrain, resumes interrupted ones", async () => {
  const dir = await Deno.makeTempDir({ prefix: "classify_test_" });
  const cfg = tinyClassConfig();
  const data = [classData(0), classData(1)];
  const build = (c: typeof cfg, cls: string) =>
    buildDynamicModel(c, 3, { rng: new Rng(`w:${cls}`), esnSeed: c.seed });
  const specFor = (cls: string): ExperimentSpec<typeof SCHEMA, SequenceBatch> => ({
    name: "classify_test",
    description: "",
    config: SCHEMA,
    data: () => Promise.resolve(data[Number(cls.slice(1))]),
    model: (c) => build(c, cls),
    optimizer: (c) => tf.train.adam(c.lr),
  });
  const log = new Logger({ quiet: true });
  const opts = { runDir: dir, variant: "v", classes: ["c0", "c1"], cfg, specFor, retrain: false, log };
  try {
    assert.deepEqual((await trainPerClass(opts)).map((r) => r.action), ["trained", "trained"]);
    assert.equal(classRunStatus(classRunDir(dir, "v", "c0")), "done");
    const text: string[] = [];
    const human = new Logger({ err: (s) => text.push(s), tty: false });
    assert.deepEqual((await trainPerClass({ ...opts, log: human })).map((r) => r.action), [
      "skipped",
      "skipped",
    ]);
    assert.match(text.join(""), /c0; skipped \(--retrain trains it again\)/);
    assert.doesNotMatch(text.join(""), /differs from/, "the same config gives no warning");
    // A finished class trained with another config is still skipped, with a warning naming the key.
    const changed: string[] = [];
    const warned = new Logger({ err: (s) => changed.push(s), tty: false });
    const cfg2 = { ...cfg, epochs: 3, log_interval: 7 }; // log_interval: run control, not compared
    assert.deepEqual(
      (await trainPerClass({ ...opts, cfg: cfg2, log: warned, classes: ["c0"] })).map((r) => r.action),
      ["skipped"],
    );
    assert.match(
      changed.join(""),
      /v classes c0 \(finished, skipped\): config key "epochs" differs from the finished models' config: 2 -> 3/,
    );
    await Deno.remove(join(classRunDir(dir, "v", "c1"), "summary.json"));
    assert.equal(classRunStatus(classRunDir(dir, "v", "c1")), "partial");
    assert.deepEqual((await trainPerClass(opts)).map((r) => r.action), ["skipped", "resumed"]);
    // --retrain of a class another live process holds (here this one): refused, nothing deleted.
    const held = acquireRunLock(classRunDir(dir, "v", "c0"));
    await assert.rejects(
      () => trainPerClass({ ...opts, retrain: true, classes: ["c0"] }),
      (e) => e instanceof RunLockError && e.message.includes(`is in use by process ${Deno.pid}`),
    );
    assert.equal(classRunStatus(classRunDir(dir, "v", "c0")), "done");
    held.release();
    assert.deepEqual(
      (await trainPerClass({ ...opts, retrain: true, classes: ["c0"] })).map((r) => r.action),
      ["trained"],
    );

    const found = findClassModels(dir);
    assert.deepEqual([...found.keys()], ["v"]);
    assert.deepEqual(found.get("v")!.map((m) => m.cls), ["c0", "c1"]);
    // Score both classes' test sequences under both models: each model prefers its own class.
    const all = new SequenceDataset({
      train: [],
      val: [],
      test: [...data[0].splits.test, ...data[1].splits.test],
    }, 3);
    const labels = Int32Array.from({ length: 16 }, (_, i) => (i < 8 ? 0 : 1));
    const table = await buildLikelihoodTable(["c0", "c1"], labels, new Int32Array(16).fill(1), async (k) => {
      const { model } = await loadClassModel(
        found.get("v")![k].checkpoint,
        specFor("c0"),
        (c) => build(c, `c${k}`),
      );
      const ll = await exampleLogLik(model, all, "test", 5);
      const one = all.batch("test", [3]);
      const lp = model.logProb(one);
      // Measured: equal to the last bit; 1e-6 of 1 + |score| allows another summation order.
      assert.ok(
        Math.abs(lp.dataSync()[0] - ll[3]) <= 1e-6 * (1 + Math.abs(ll[3])),
        "batched scores equal single-sequence scores",
      );
      lp.dispose();
      one.dispose();
      (model as DynamicModel).dispose();
      return ll;
    });
    const acc = confusionScores(confusionMatrix(labels, classifyMl(table), 2), 2).accuracy;
    assert.ok(acc > 0.9, `accuracy ${acc}`);

    // loadDynamicClassModel() restores the same model, and refuses data of another frame size.
    const c1 = found.get("v")![1];
    const restored = await loadDynamicClassModel(c1, specFor("c1"), 3, (c) => build(c, "c1"));
    const again = await exampleLogLik(restored, all, "test", 5);
    assert.deepEqual(Array.from(again), Array.from(table.logLik.filter((_, j) => j % 2 === 1)));
    restored.dispose();
    await assert.rejects(
      () => loadDynamicClassModel(c1, specFor("c1"), 4, (c) => build(c, "c1")),
      (e: Error) => e instanceof ConfigError && /trained with frame_dim 3; the data has 4/.test(e.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("trainPerClass({ claim }): concurrent claimers train each class once; a failure is left to its launch", async () => {
  const dir = await Deno.makeTempDir({ prefix: "classify_claim_" });
  const cfg = tinyClassConfig();
  const classes = ["c0", "c1", "c2", "c3"];
  const specFor = (cls: string): ExperimentSpec<typeof SCHEMA, SequenceBatch> => ({
    name: "classify_claim",
    description: "",
    config: SCHEMA,
    data: () => Promise.resolve(classData(Number(cls.slice(1)))),
    model: (c) => buildDynamicModel(c, 3, { rng: new Rng(`w:${cls}`), esnSeed: c.seed }),
    optimizer: (c) => tf.train.adam(c.lr),
  });
  const log = new Logger({ quiet: true });
  try {
    // Two claimers in one process (a lock is not reentrant, so they exclude each other as two processes do).
    const claimed: string[][] = [[], []];
    const runs = await Promise.all([0, 1].map((j) =>
      trainPerClass({
        runDir: dir,
        variant: "v",
        classes,
        cfg,
        specFor,
        retrain: false,
        log,
        claim: { launch: "L1", onClaim: (c) => Promise.resolve(void claimed[j].push(c)) },
      })
    ));
    const trained = runs.flatMap((r) => r.filter((x) => x.action === "trained").map((x) => x.cls)).sort();
    assert.deepEqual(trained, classes, "every class trained exactly once");
    assert.deepEqual([...claimed[0], ...claimed[1]].sort(), classes);
    assert.ok(
      claimed[0].length > 0 && claimed[1].length > 0,
      `both claimers worked: ${JSON.stringify(claimed)}`,
    );
    for (const c of classes) assert.equal(classRunStatus(classRunDir(dir, "v", c)), "done");

    // A class that failed in launch L2 is left alone by L2's other claimers, and tried again by launch L3.
    const c0 = classRunDir(dir, "v", "c0");
    await Deno.remove(c0, { recursive: true });
    await Deno.mkdir(c0);
    Deno.writeTextFileSync(join(c0, CLAIM_FAILED), JSON.stringify({ launch: "L2", pid: 1, error: "boom" }));
    const again = (launch: string) =>
      trainPerClass({
        runDir: dir,
        variant: "v",
        classes: ["c0"],
        cfg,
        specFor,
        retrain: false,
        log,
        claim: { launch },
      });
    assert.deepEqual(await again("L2"), []);
    assert.deepEqual((await again("L3")).map((r) => r.action), ["trained"]);
    assert.throws(() => Deno.statSync(join(c0, CLAIM_FAILED)), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("realVsGeneratedPicture() draws real above generated sequences", () => {
  const r = new Rng(0);
  const real = [r.normals(4 * 5), r.normals(4 * 7)], gen = [r.normals(4 * 5), r.normals(4 * 7)];
  const one = realVsGeneratedPicture(real.slice(0, 1), gen.slice(0, 1), 4, ["t"]);
  const two = realVsGeneratedPicture(real, gen, 4, ["t"]);
  assert.ok(two.width > one.width && two.height === one.height);
  const long = realVsGeneratedPicture(real.slice(0, 1), gen.slice(0, 1), 4, ["t", "x".repeat(100)]);
  assert.ok(long.width >= 600 && long.height > one.height, "the canvas widens to the title");
  assert.throws(() => realVsGeneratedPicture(real, gen.slice(0, 1), 4, ["t"]), /as many generated as real/);
});

Deno.test("applyProfile() keeps explicitly given keys even at their default; configArgs() passes them on", () => {
  const given = resolveConfig(SCHEMA, { esn_dim: 1000 }); // typed, but equal to the schema default
  const explicit = new Set(["esn_dim"]);
  const { cfg, changed, kept } = applyProfile(SCHEMA, given, { esn_dim: 500, epochs: 3 }, explicit);
  assert.equal(cfg.esn_dim, 1000);
  assert.equal(cfg.epochs, 3);
  assert.deepEqual(changed, [{ key: "epochs", from: 100, to: 3 }]);
  assert.deepEqual(kept, [{ key: "esn_dim", from: 1000, to: 500 }]);
  // Without the explicit set, the fallback rule cannot tell and applies the profile.
  assert.equal(applyProfile(SCHEMA, given, { esn_dim: 500 }).cfg.esn_dim, 500);
  assert.deepEqual(configArgs(SCHEMA, given, {}, explicit), ["--esn_dim", "1000"]);
  assert.deepEqual(configArgs(SCHEMA, given), []);
});

Deno.test("SegmentClasses.fromSequences() keeps each class's sequences, in the given order", async (t) => {
  const r = new Rng(2);
  const mk = (lengths: number[]) => lengths.map((l) => r.normals(2 * l));
  const byClass = [
    { train: mk([2, 3]), val: mk([1]), test: mk([4]) },
    { train: mk([5]), val: mk([2, 2]), test: mk([1, 3]) },
  ];
  const seg = SegmentClasses.fromSequences(byClass, ["a", "b"], 2);
  const same = (x: readonly Float32Array[], y: readonly Float32Array[]) =>
    assert.deepEqual(x.map((s) => Array.from(s)), y.map((s) => Array.from(s)));
  await t.step("counts of segments and frames per class and split", () => {
    assert.deepEqual(seg.counts("train"), [
      { name: "a", segments: 2, frames: 5 },
      { name: "b", segments: 1, frames: 5 },
    ]);
    assert.deepEqual(seg.counts("test").map((c) => c.segments), [1, 2]);
  });
  await t.step("a class's data set holds exactly its sequences; ids point into the split", () => {
    const { data, ids } = seg.classData("b");
    for (const s of ["train", "val", "test"] as const) same(data.splits[s], byClass[1][s]);
    assert.deepEqual(ids.val, [1, 2]);
    same(ids.val.map((i) => seg.seqs.val[i]), byClass[1].val);
  });
  await t.step("the evaluation set labels each test sequence by its class's position", () => {
    const es = seg.evalSet(["b", "a"]);
    assert.deepEqual(Array.from(es.labels), [1, 0, 0]);
    assert.deepEqual(Array.from(es.frames), [4, 1, 3]);
    same(es.data.splits.test, [...byClass[0].test, ...byClass[1].test]);
  });
  await t.step("names must match the classes; sequences must be whole frames", () => {
    assert.throws(() => SegmentClasses.fromSequences(byClass, ["a"], 2), /2 classes of sequences, 1 names/);
    const bad = [{ train: [new Float32Array(3)], val: [], test: [] }];
    assert.throws(() => SegmentClasses.fromSequences(bad, ["a"], 2), /train sequence 0 has 3 values/);
  });
});

Deno.test("classExperiment() gives the class's data and hands the model it builds to attach()", async () => {
  const data = classData(0);
  const cfg = resolveConfig(SCHEMA, { esn_dim: 12, hidden_layer_dim: 6, n_flow_layers: 1 });
  const attached: DynamicModel[] = [];
  const spec = classExperiment<typeof SCHEMA>(
    {
      name: "classify_test",
      description: "one class",
      config: SCHEMA,
      optimizer: (c) => tf.train.adam(c.lr),
    },
    data,
    (m) => attached.push(m),
    (c, ctx) => buildDynamicModel(c, 3, { rng: ctx.rng, esnSeed: c.seed }),
  );
  const ctx = { runDir: "", sampleDir: "", rng: new Rng(0), log: new Logger({ quiet: true }) };
  assert.equal(await spec.data(cfg, ctx), data);
  const model = await spec.model(cfg, data, ctx);
  assert.deepEqual(attached, [model]);
  assert.equal(spec.name, "classify_test");
  (model as DynamicModel).dispose();
});
