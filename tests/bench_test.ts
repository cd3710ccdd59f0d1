/**
 * The benchmark's helpers (flags, statistics, peer output, ratios, tables, the maths-check mapping) and a
 * `--quick` run of `bench/bench.ts` end to end. The PyTorch comparison runs only where a Python with torch
 * exists (not in CI). Budget: about 15 s, most of it the end-to-end run.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { replay } from "../bench/replay_claims.ts";
import { runScript } from "./helpers/cli.ts";
import { selectBackend } from "../lib/backend.ts";
import { SequenceBatch } from "../lib/data/sequences.ts";
import { Rng } from "../lib/rng.ts";
import { BenchArgError, parseBenchArgs, QUICK, VARIANTS } from "../bench/args.ts";
import {
  batchIds,
  benchSequences,
  gamma2,
  median,
  medianFramesPerSecond,
  timitLikeLength,
  totalFramesPerSecond,
} from "../bench/data.ts";
import { buildBenchModel } from "../bench/measure.ts";
import { allocatorSettings, parseLoadAverage } from "../bench/machine.ts";
import { peakMemoryOf } from "../bench/memory.ts";
import { CHECK_TOLERANCE, exportForPeer, maxRelativeError, torchName } from "../bench/peer_check.ts";
import { findPython, parsePeerLines, peerArgs, peerFigures, runPeer } from "../bench/peer.ts";
import { pairedRun, PeerServer } from "../bench/paired.ts";
import {
  type Figure,
  formatValue,
  jsonLine,
  mainTable,
  medianOverRounds,
  ratioFigures,
  scalingTable,
  textTable,
} from "../bench/report.ts";
import { scalingPlot, scalingSeries } from "../bench/scaling_plot.ts";

await selectBackend("wasm");

const ROOT = new URL("../", import.meta.url);
/** The permissions of `deno task bench` (deno.json), so a missing one fails here too. */

Deno.test("parseBenchArgs() gives the documented defaults and reads every flag form", async (t) => {
  await t.step("defaults", () => {
    const o = parseBenchArgs([]);
    assert.equal(o.backends, null);
    assert.deepEqual(o.variants, VARIANTS);
    assert.deepEqual([o.steps, o.warmup, o.batch, o.esnDim], [10, 15, 128, 1000]);
    assert.deepEqual(o.threads, [1, 2]);
    assert.equal(o.peer, "../shared/peer/torch_esn_flow.py");
    assert.equal(o.usePeer, true);
    assert.equal(o.json, false);
  });
  await t.step("values after a space or =, underscores or dashes", () => {
    const o = parseBenchArgs([
      "--backends",
      "cpu,wasm",
      "--esn_dims=250,500",
      "--esn-dim",
      "300",
      "--batches",
      "32,64",
      "--no_peer",
      "--json",
      "--plot",
      "out.png",
      "--threads=1",
    ]);
    assert.deepEqual(o.backends, ["cpu", "wasm"]);
    assert.deepEqual(o.esnDims, [250, 500]);
    assert.deepEqual(o.batches, [32, 64]);
    assert.equal(o.esnDim, 300);
    assert.equal(o.usePeer, false);
    assert.equal(o.json, true);
    assert.equal(o.plot, "out.png");
    assert.deepEqual(o.threads, [1]);
    assert.equal(o.peerDevice, "cpu");
    assert.equal(parseBenchArgs(["--peer_device", "cuda"]).peerDevice, "cuda");
    assert.equal(o.webgpuKernels, true);
    assert.equal(parseBenchArgs(["--webgpu_kernels=off"]).webgpuKernels, false);
  });
  await t.step("--rounds and --cpu_steps", () => {
    const o = parseBenchArgs(["--rounds", "3", "--cpu_steps=2"]);
    assert.equal(o.rounds, 3);
    assert.equal(o.cpuSteps, 2);
    assert.equal(parseBenchArgs([]).rounds, 1);
  });
  await t.step("--quick shrinks the sizes, explicit flags win", () => {
    const o = parseBenchArgs(["--quick", "--steps", "5"]);
    assert.equal(o.batch, QUICK.batch);
    assert.equal(o.esnDim, QUICK.esnDim);
    assert.equal(o.steps, 5);
  });
  await t.step("malformed input names the flag and value", () => {
    assert.throws(() => parseBenchArgs(["--steps", "0"]), /--steps must be an integer >= 1, got "0"/);
    assert.throws(() => parseBenchArgs(["--batch", "1.5"]), /--batch .* got "1.5"/);
    assert.throws(
      () => parseBenchArgs(["--backends", "tpu"]),
      /unknown value "tpu". Valid: wasm, cpu, webgpu/,
    );
    assert.throws(() => parseBenchArgs(["--stepz", "3"]), BenchArgError);
    assert.throws(
      () => parseBenchArgs(["--peer_device", "gpu"]),
      /--peer-device must be one of cpu, cuda, got "gpu"/,
    );
    assert.throws(
      () => parseBenchArgs(["--webgpu_kernels", "yes"]),
      /--webgpu-kernels must be on or off, got "yes"/,
    );
    assert.throws(() => parseBenchArgs(["--json=1"]), /takes no value/);
    assert.throws(() => parseBenchArgs(["--plot"]), /--plot needs a value/);
    assert.throws(() => parseBenchArgs(["steps"]), /Unexpected argument "steps"/);
  });
});

Deno.test("median() and the frames-per-second estimators", () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.throws(() => median([]), /no values/);
  const t = { ms: [100, 200, 1000], frames: [100, 100, 100] };
  assert.equal(medianFramesPerSecond(t), 500); // rates 1000, 500, 100
  assert.equal(totalFramesPerSecond(t), 300 / 1.3);
  assert.throws(() => medianFramesPerSecond({ ms: [1], frames: [] }), /1 timings for 0 frame counts/);
});

Deno.test("TIMIT-like lengths follow clip(round(Gamma(2, 4)), 2, 40)", () => {
  const rng = new Rng(7);
  const n = 20000;
  const g = Array.from({ length: n }, () => gamma2(rng, 4));
  const mean = g.reduce((a, b) => a + b, 0) / n;
  const variance = g.reduce((a, b) => a + (b - mean) ** 2, 0) / n;
  // Gamma(k = 2, theta = 4): mean k theta = 8, variance k theta^2 = 32; standard errors 0.04 and ~0.6.
  assert.ok(Math.abs(mean - 8) < 0.2, `mean ${mean}`);
  assert.ok(Math.abs(variance - 32) < 3, `variance ${variance}`);
  const lengths = Array.from({ length: n }, () => timitLikeLength(rng));
  assert.ok(lengths.every((l) => Number.isInteger(l) && l >= 2 && l <= 40));
  assert.ok(lengths.includes(2) && lengths.some((l) => l > 25));
  const seqs = benchSequences(5, 3, new Rng(1));
  assert.ok(seqs.every((s) => s.length % 3 === 0 && s.length >= 6));
  assert.deepEqual(seqs.map((s) => s.length), benchSequences(5, 3, new Rng(1)).map((s) => s.length));
  assert.deepEqual(batchIds(2, 3), [6, 7, 8]);
});

const PEER_OUT = `Warning: something from torch
{"peer": "pytorch", "torch": "1.13.0a0", "threads": 2, "variant": "original", "batch": 128, "frame_dim": 40, "esn_dim": 1000, "ms_per_step": 600.5, "frames_per_s": 1700.0}
{"peer": "pytorch", "torch": "1.13.0a0", "threads": 2, "variant": "packed", "batch": 128, "frame_dim": 40, "esn_dim": 1000, "ms_per_step": 150.25, "frames_per_s": 6800.5}
{"other": 1}
{"peer": "pytorch", "phase": "eval", "torch": "1.13.0a0", "threads": 1, "variant": "packed", "batch": 128, "frame_dim": 40, "esn_dim": 1000, "ms_per_step": 20.5, "frames_per_s": 50000.0}
{"peer": "pytorch", "torch": "2.5.1", "device": "cuda", "threads": 1, "variant": "packed", "batch": 128, "frame_dim": 40, "esn_dim": 1000, "ms_per_step": 2.5, "frames_per_s": 400000.0}
`;

Deno.test("parsePeerLines() reads the peer's JSON lines and names a bad field", () => {
  const recs = parsePeerLines(PEER_OUT);
  assert.equal(recs.length, 4);
  assert.deepEqual(recs.map((r) => r.phase), ["train", "train", "eval", "train"]);
  assert.deepEqual(recs.map((r) => r.device), ["cpu", "cpu", "cpu", "cuda"], "cpu where a line names none");
  assert.deepEqual(recs[1], {
    phase: "train",
    torch: "1.13.0a0",
    device: "cpu",
    threads: 2,
    variant: "packed",
    batch: 128,
    frameDim: 40,
    esnDim: 1000,
    msPerStep: 150.25,
    framesPerS: 6800.5,
  });
  assert.throws(
    () => parsePeerLines('{"peer": "pytorch", "variant": "x", "threads": 1, "batch": "128"}'),
    /line 1: field "batch" must be a number, got "128"/,
  );
  assert.throws(
    () => parsePeerLines('{"peer": "pytorch", "phase": "test", "variant": "x", "threads": 1, "batch": 1}'),
    /line 1: field "phase" must be "train" or "eval", got "test"/,
  );
  assert.throws(
    () => parsePeerLines('{"peer": "pytorch", "device": "tpu", "variant": "x", "threads": 1, "batch": 1}'),
    /line 1: field "device" must be "cpu" or "cuda", got "tpu"/,
  );
  const figs = peerFigures(recs);
  assert.equal(figs.length, 8);
  assert.deepEqual(
    figs.map((f) => [f.backend, f.variant, f.figure, f.value]),
    [
      ["torch-cpu-2t", "original", "train_ms_per_step", 600.5],
      ["torch-cpu-2t", "original", "train_frames_per_s", 1700],
      ["torch-cpu-2t", "packed", "train_ms_per_step", 150.25],
      ["torch-cpu-2t", "packed", "train_frames_per_s", 6800.5],
      ["torch-cpu-1t", "packed", "eval_ms_per_batch", 20.5],
      ["torch-cpu-1t", "packed", "eval_frames_per_s_total", 50000],
      ["torch-cuda-1t", "packed", "train_ms_per_step", 2.5],
      ["torch-cuda-1t", "packed", "train_frames_per_s", 400000],
    ],
  );
  assert.deepEqual(peerArgs({ batch: 8, steps: 2, esnDim: 50, threads: 1, device: "cuda" }).slice(-2), [
    "--device",
    "cuda",
  ]);
  assert.deepEqual(peerArgs({ batch: 64, steps: 5, esnDim: 500, threads: 1 }), [
    "--batch",
    "64",
    "--steps",
    "5",
    "--esn_dim",
    "500",
    "--threads",
    "1",
    "--device",
    "cpu",
  ]);
});

Deno.test("findPython() reports why a candidate cannot be used", async () => {
  const { found, tried } = await findPython(["/nonexistent/python3"]);
  assert.equal(found, null);
  assert.equal(tried.length, 1);
  assert.match(tried[0], /^\/nonexistent\/python3: /);
});

const fig = (f: Partial<Figure> & Pick<Figure, "figure" | "value">): Figure => ({
  bench: "echoflow",
  backend: "wasm",
  unit: "frames/s",
  variant: "cached",
  esn_dim: 1000,
  batch: 128,
  ...f,
});

Deno.test("ratioFigures() divides echoflow's throughput by the best peer variant at the same size", () => {
  const figures = [
    fig({ figure: "train_frames_per_s_total", value: 5000 }),
    fig({ figure: "train_frames_per_s_total", value: 2500, variant: "recompute" }),
    fig({ figure: "train_frames_per_s_total", value: 900, esn_dim: 250, scan: "esn_dim" }),
    fig({
      bench: "pytorch",
      backend: "torch-cpu-1t",
      variant: "packed",
      figure: "train_frames_per_s",
      value: 4000,
    }),
    fig({
      bench: "pytorch",
      backend: "torch-cpu-2t",
      variant: "cached",
      figure: "train_frames_per_s",
      value: 2000,
    }),
    fig({ bench: "pytorch", variant: "packed", figure: "train_frames_per_s", value: 9e9, batch: 64 }),
  ];
  const r = ratioFigures(figures);
  assert.deepEqual(r.map((f) => [f.figure, f.variant, f.value]), [
    ["train_ratio_vs_best_peer", "cached", 1.25],
    ["train_ratio_vs_best_peer", "recompute", 0.625],
  ]);
  assert.match(r[0].note!, /pytorch packed \(torch-cpu-1t\) 4000 fr\/s/);
  assert.deepEqual(ratioFigures(figures.filter((f) => f.bench === "echoflow")), []);
  // Evaluation: echoflow's total-based figure against the peer's (peer_driver.py eval), never against training.
  const withEval = [
    ...figures,
    fig({ figure: "eval_frames_per_s_total", value: 60000 }),
    fig({ figure: "eval_frames_per_s", value: 1e9 }),
    fig({ bench: "pytorch", backend: "torch-cpu-1t", figure: "eval_frames_per_s_total", value: 48000 }),
    fig({ bench: "pytorch", backend: "torch-cpu-2t", figure: "eval_frames_per_s_total", value: 30000 }),
  ];
  const e = ratioFigures(withEval).filter((f) => f.figure === "eval_ratio_vs_best_peer");
  assert.deepEqual(e.map((f) => [f.variant, f.value]), [["cached", 1.25]]);
  assert.match(e[0].note!, /60000 fr\/s \/ pytorch cached \(torch-cpu-1t\) 48000 fr\/s/);
});

Deno.test("medianOverRounds() takes each figure's median over the rounds it appears in", () => {
  const a = fig({ figure: "train_frames_per_s", value: 100 });
  const r = medianOverRounds([
    [a, fig({ figure: "eval_frames_per_s", value: 7 })],
    [{ ...a, value: 300 }],
    [{ ...a, value: 200 }],
  ]);
  assert.deepEqual(r.map((f) => [f.figure, f.value, f.rounds]), [["train_frames_per_s", 200, 3], [
    "eval_frames_per_s",
    7,
    undefined,
  ]]);
  assert.equal(r[0].note, "median of rounds 100, 300, 200");
  assert.deepEqual(medianOverRounds([[a]]), [a]);
});

Deno.test("tables: values formatted by unit, one row per source/backend/variant, blanks where missing", () => {
  assert.equal(formatValue(3 * 2 ** 20, "bytes"), "3.0");
  assert.equal(formatValue(12345.6, "frames/s"), "12,346");
  assert.equal(formatValue(12.345, "ms"), "12.35");
  assert.equal(formatValue(0.000123456, "relative"), "0.000123");
  assert.equal(textTable(["a", "bb"], [["xyz", "1"]]), "a    bb\n---  --\nxyz   1");
  const table = mainTable([
    fig({ figure: "train_frames_per_s", value: 1000 }),
    fig({ figure: "rss_bytes", value: 2 ** 21, unit: "bytes" }),
    fig({ variant: "recompute", figure: "train_frames_per_s", value: 500 }),
    fig({ figure: "train_ms_per_step", value: 7, scan: "batch" }),
  ]).split("\n");
  assert.equal(table.length, 4);
  assert.match(table[0], /train fr\/s\s+RSS MB$/);
  assert.match(table[2], /^echoflow wasm cached\s+1,000\s+2\.0$/);
  assert.match(table[3], /^echoflow wasm recompute\s+500$/);
  const scaling = scalingTable([
    fig({ figure: "train_ms_per_step", value: 20, unit: "ms", batch: 64, scan: "batch" }),
    fig({ figure: "train_ms_per_step", value: 10, unit: "ms", batch: 32, scan: "batch" }),
  ], "batch").split("\n");
  assert.deepEqual(scaling.slice(2).map((l) => l.split(/\s+/)), [["32", "10.00"], ["64", "20.00"]]);
  assert.equal(scalingTable([], "esn_dim"), "");
  const line = JSON.parse(jsonLine(fig({ figure: "x", value: 1234.5678 })));
  assert.equal(line.value, 1235);
  assert.equal(line.bench, "echoflow");
});

Deno.test("scalingSeries() gives one line per backend/variant and the peer's best; scalingPlot() draws both sweeps", () => {
  const figures = [
    fig({ figure: "train_ms_per_step", value: 30, unit: "ms", esn_dim: 500, scan: "esn_dim" }),
    fig({ figure: "train_ms_per_step", value: 10, unit: "ms", esn_dim: 250, scan: "esn_dim" }),
    fig({
      backend: "cpu",
      figure: "train_ms_per_step",
      value: 90,
      unit: "ms",
      esn_dim: 250,
      scan: "esn_dim",
    }),
    fig({ figure: "train_ms_per_step", value: 5, unit: "ms", batch: 32, scan: "batch" }),
    fig({
      bench: "pytorch",
      variant: "packed",
      figure: "train_ms_per_step",
      value: 8,
      esn_dim: 250,
      scan: "esn_dim",
    }),
    fig({
      bench: "pytorch",
      variant: "cached",
      figure: "train_ms_per_step",
      value: 6,
      esn_dim: 250,
      scan: "esn_dim",
    }),
  ];
  const s = scalingSeries(figures, "esn_dim");
  assert.deepEqual(s.map((x) => [x.name, x.x, x.y]), [
    ["wasm cached", [250, 500], [10, 30]],
    ["cpu cached", [250], [90]],
    ["pytorch best", [250], [6]],
  ]);
  const both = scalingPlot(figures)!, one = scalingPlot(figures.filter((f) => f.scan === "esn_dim"))!;
  assert.ok(both.width > one.width);
  assert.equal(scalingPlot([fig({ figure: "train_ms_per_step", value: 1 })]), null);
});

Deno.test("torchName() maps every echoflow parameter to the peer's state_dict", () => {
  const model = buildBenchModel(16, 0);
  try {
    const names = model.parameters().map(([n]) => torchName(n));
    assert.equal(new Set(names.map((n) => n.name)).size, names.length);
    assert.deepEqual(torchName("density/flow/0/layer/3/first/params"), {
      name: "nets.3.body.0.params",
      transpose: false,
    });
    assert.deepEqual(torchName("density/flow/0/layer/1/hidden/0/weight"), {
      name: "nets.1.body.2.weight",
      transpose: true,
    });
    assert.deepEqual(torchName("density/flow/0/layer/1/hidden/1/bias"), {
      name: "nets.1.body.4.bias",
      transpose: false,
    });
    assert.deepEqual(torchName("density/flow/0/layer/0/intercept/weight"), {
      name: "nets.0.intercept.weight",
      transpose: true,
    });
    assert.deepEqual(torchName("density/flow/0/rescale"), { name: "rescale", transpose: false });
    assert.throws(
      () => torchName("density/flow/1/rescale"),
      /no PyTorch peer name for .*"density\/flow\/1\/rescale"/,
    );
    assert.throws(() => torchName("density/flow/0/layer/0/first/weight"), /use_toeplitz true/);
  } finally {
    model.dispose();
  }
});

Deno.test("allocatorSettings() names the malloc settings that are set, or says there are none", () => {
  const env = (vars: Record<string, string>) => (k: string) => vars[k];
  assert.equal(allocatorSettings(env({})), "glibc allocator defaults");
  assert.equal(
    allocatorSettings(env({ MALLOC_TRIM_THRESHOLD_: "9", MALLOC_MMAP_THRESHOLD_: "8", OTHER: "1" })),
    "MALLOC_MMAP_THRESHOLD_=8 MALLOC_TRIM_THRESHOLD_=9",
  );
});

Deno.test("parseLoadAverage() reads the first field of /proc/loadavg", () => {
  assert.equal(parseLoadAverage("0.52 0.58 0.59 1/467 12345\n"), 0.52);
  assert.equal(parseLoadAverage(""), null);
  assert.equal(parseLoadAverage("x y"), null);
});

Deno.test("maxRelativeError() is the worst |a - b| / |b|", () => {
  assert.ok(Math.abs(maxRelativeError([1, -2.002, 3], [1, -2, 3.003]) - 0.001) < 1e-12);
  assert.throws(() => maxRelativeError([1], [1, 2]), /1 values against 2/);
});

Deno.test("peakMemoryOf() sees a tensor that lived only inside the work", async () => {
  const before = tf.memory();
  const peak = await peakMemoryOf(() => {
    tf.tidy(() => {
      tf.add(tf.zeros([1000]), 1);
    });
  });
  assert.ok(peak.bytes >= before.numBytes + 2 * 4000, `peak ${peak.bytes}, before ${before.numBytes}`);
  assert.ok(peak.tensors >= before.numTensors + 2);
  assert.equal(tf.memory().numTensors, before.numTensors);
});

const torch = (await findPython()).found;

Deno.test({
  name: "the PyTorch peer gives the same log-likelihood for the exported weights, and not for altered ones",
  ignore: torch === null,
  fn: async () => {
    const model = buildBenchModel(24, 0);
    const batch = SequenceBatch.fromSequences(benchSequences(4, 40, new Rng(3)), 40);
    const file = await Deno.makeTempFile({ suffix: ".json" });
    try {
      const lp = model.logProb(batch);
      const ours = Array.from(await lp.data());
      lp.dispose();
      const exported = await exportForPeer(model, batch) as { state: Record<string, { values: number[] }> };
      const theirs = async () => {
        await Deno.writeTextFile(file, JSON.stringify(exported));
        const out = await new Deno.Command(torch!.python, {
          args: [
            new URL("bench/peer_logp.py", ROOT).pathname,
            new URL("../shared/peer/torch_esn_flow.py", ROOT).pathname,
            file,
          ],
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
        return JSON.parse(new TextDecoder().decode(out.stdout)).logp as number[];
      };
      // Measured 4.6e-8 to 1.4e-7 with seeds 0..3 (bench/peer_check.ts); a transposed weight, 2.9e-3 and up.
      const err = maxRelativeError(ours, await theirs());
      assert.ok(err < CHECK_TOLERANCE, `${err}`);
      // The hidden weight of layer 2 ([30, 30]: loads either way round) left untransposed must be caught.
      const w = exported.state["nets.2.body.2.weight"].values;
      const orig = w.slice();
      for (let r = 0; r < 30; r++) for (let c = 0; c < 30; c++) w[r * 30 + c] = orig[c * 30 + r];
      assert.ok(maxRelativeError(ours, await theirs()) > CHECK_TOLERANCE);
    } finally {
      batch.dispose();
      model.dispose();
      await Deno.remove(file);
    }
  },
});

Deno.test({
  name:
    "peer_driver.py eval times the peer's own model in evaluation, padded and packed, in the peer's format",
  ignore: torch === null,
  fn: async () => {
    const out = await new Deno.Command(torch!.python, {
      args: [
        new URL("bench/peer_driver.py", ROOT).pathname,
        new URL("../shared/peer/torch_esn_flow.py", ROOT).pathname,
        "eval",
        ...peerArgs({ batch: 4, steps: 2, esnDim: 24, threads: 1 }),
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const recs = parsePeerLines(new TextDecoder().decode(out.stdout));
    assert.deepEqual(recs.map((r) => [r.phase, r.variant, r.batch, r.esnDim, r.threads]), [
      ["eval", "cached", 4, 24, 1],
      ["eval", "packed", 4, 24, 1],
    ]);
    for (const r of recs) assert.ok(r.framesPerS > 0 && r.msPerStep > 0);
  },
});

Deno.test({
  name: "paired runs alternate echoflow's and the peer's steps and divide their throughputs",
  ignore: torch === null,
  fn: async () => {
    await selectBackend("wasm");
    const size = { esnDim: 24, batch: 4, steps: 3, warmup: 1, seed: 0 };
    for (const phase of ["train", "eval"] as const) {
      const server = await PeerServer.start(
        torch!.python,
        new URL("../shared/peer/torch_esn_flow.py", ROOT).pathname,
        { phase, variant: "packed", threads: 1 },
        size,
      );
      try {
        const before = tf.memory().numTensors;
        const r = await pairedRun(server, phase, size);
        assert.equal(tf.memory().numTensors, before, "the paired run leaks tensors");
        for (const t of [r.ours, r.peer]) {
          assert.equal(t.ms.length, 3);
          assert.ok(t.frames.every((n) => n >= 2 * 4 && n <= 40 * 4), `frames ${t.frames}`);
        }
        assert.ok(Math.abs(r.ratio - totalFramesPerSecond(r.ours) / totalFramesPerSecond(r.peer)) < 1e-12);
      } finally {
        await server.close();
      }
    }
  },
});

Deno.test("runPeer() gives the peer its thread count for BLAS and OpenMP too", async () => {
  // A stand-in peer that reports the pools' sizes it was given in its result line.
  const dir = await Deno.makeTempDir();
  const script = `${dir}/peer.sh`;
  await Deno.writeTextFile(
    script,
    'echo "{\\"peer\\": \\"pytorch\\", \\"torch\\": \\"x\\", \\"threads\\": $OPENBLAS_NUM_THREADS, ' +
      '\\"variant\\": \\"packed\\", \\"batch\\": 2, \\"frame_dim\\": 40, \\"esn_dim\\": 8, ' +
      '\\"ms_per_step\\": $MKL_NUM_THREADS, \\"frames_per_s\\": ${OMP_NUM_THREADS}00}"\n',
  );
  try {
    const [r] = await runPeer("/bin/sh", script, { batch: 2, steps: 1, esnDim: 8, threads: 3 });
    assert.deepEqual([r.threads, r.msPerStep, r.framesPerS], [3, 3, 300]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("PeerServer.start() fails with the driver's error when the driver cannot run", async () => {
  await assert.rejects(
    PeerServer.start(
      "/bin/false",
      "/nonexistent/peer.py",
      { phase: "train", variant: "packed", threads: 1 },
      {
        esnDim: 8,
        batch: 2,
        steps: 1,
        warmup: 0,
        seed: 0,
      },
    ),
    /peer_driver\.py ended early \(exit code 1\)/,
  );
});

/** Runs `bench/bench.ts` as `deno task bench` does. */
const bench = (args: string[]) => runScript("bench/bench.ts", args);

Deno.test("bench.ts --quick --json prints every figure of each variant and exits 0", async () => {
  const out = await bench(["--quick", "--no_peer", "--backends", "wasm", "--json", "--batches", "4"]);
  const stderr = out.stderr;
  assert.equal(out.code, 0, stderr);
  const figs = out.stdout.trim().split("\n").map((l) => JSON.parse(l) as Figure);
  for (const variant of VARIANTS) {
    const mine = figs.filter((f) => f.variant === variant && !f.scan).map((f) => f.figure);
    for (
      const name of [
        "train_frames_per_s",
        "train_ms_per_step",
        "eval_frames_per_s",
        "peak_tensor_bytes",
        "rss_bytes",
      ]
    ) {
      assert.ok(mine.includes(name), `${variant} lacks ${name}`);
    }
  }
  const cached = figs.filter((f) => f.variant === "cached").map((f) => f.figure);
  assert.ok(cached.includes("esn_encode_frames_per_s") && cached.includes("sample_frames_per_s"));
  assert.ok(
    figs.every((f) =>
      f.bench === "echoflow" && f.backend === "wasm" && Number.isFinite(f.value) && f.value > 0
    ),
  );
  assert.ok(figs.some((f) => f.scan === "batch" && f.batch === 4 && f.figure === "train_ms_per_step"));
  assert.match(stderr, /training 1 \+ 2 steps/);
  assert.match(stderr, /PyTorch peer not run/);
});

Deno.test("bench.ts rejects an unknown flag with exit code 2 and the usage", async () => {
  const out = await bench(["--bogus"]);
  assert.equal(out.code, 2);
  assert.match(out.stderr, /Unknown flag "--bogus"[\s\S]*deno task bench/);
});

Deno.test("replay(): fixed shards against claiming, from per-class times", () => {
  // Frames put c3 with c2 in shard 2; c3 turns out slow. Claiming keeps job 1 busy with c2 and c1 meanwhile.
  const classes = [
    { name: "c4", frames: 4, seconds: 1 },
    { name: "c3", frames: 3, seconds: 10 },
    { name: "c2", frames: 2, seconds: 1 },
    { name: "c1", frames: 1, seconds: 1 },
  ];
  assert.deepEqual(replay(classes, 2), { shards: [2, 11], claiming: [3, 10] });
  assert.deepEqual(replay(classes, 2, [["c4", "c3"], ["c2", "c1"]]).shards, [11, 2], "as assigned");
});
