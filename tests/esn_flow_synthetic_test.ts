import assert from "node:assert/strict";
import { esnFlowSynthetic } from "../experiments/esn_flow_synthetic.ts";
import { selectBackend } from "../lib/backend.ts";
import { classRunDir } from "../lib/classify/per_class.ts";
import { resolveConfig } from "../lib/config.ts";
import { Logger } from "../lib/runner/logger.ts";
import { exists, join } from "../lib/runner/run_dir.ts";
import { loadCheckpoint } from "../lib/runner/checkpoint.ts";
import type { HostTensor } from "../lib/runner/checkpoint_format.ts";
import { runCli, spawnCli } from "./helpers/cli.ts";

await selectBackend("wasm");

const tiny = {
  esn_dim: 16,
  hidden_layer_dim: 6,
  n_classes: 2,
  n_train: 24,
  n_val: 8,
  // 50 test sequences a class: enough for the accuracy margin below to mean something (scoring is cheap).
  n_test: 50,
  max_length: 10,
  epochs: 2,
  // More than epochs: the class runs must still evaluate once (their best.ckpt marks them finished).
  eval_epochs: 3,
  batch_size: 8,
  n_samples: 2,
};

Deno.test("esn_flow_synthetic trains one model per class and reports NLL and accuracy next to the truth", async (t) => {
  const runDir = await Deno.makeTempDir({ prefix: "esn_flow_synthetic_" });
  const lines: string[] = [];
  const log = new Logger({ quiet: true, json: true, out: (s) => lines.push(s), tty: false });
  const classDir = (k: number) => classRunDir(runDir, "dyn_esn_flow", `class_${k}`);
  try {
    const cfg = resolveConfig(esnFlowSynthetic.config, tiny);
    const r = await esnFlowSynthetic.run!(cfg, { runDir, resume: null, log });

    await t.step("overall scores, next to the true HMMs", () => {
      for (
        const k of ["test_nll_per_frame", "true_nll_per_frame", "gap_per_frame", "accuracy", "true_accuracy"]
      ) {
        assert.ok(Number.isFinite(r[k]), `${k} = ${r[k]}`);
      }
      assert.equal(r.n_test, 100);
      assert.equal(r.trained, 2);
      // Two classes of 50 test sequences each: chance and the majority baseline are both 0.5. Measured
      // with seed 0..7 (the test uses 0): model 0.92, 0.89, 0.81, 0.64, 0.94, 0.68, 0.90, 0.73; the true
      // HMMs 0.99, 1, 0.98, 0.94, 1, 0.98, 1, 0.96. The classes are separable, and even 2 epochs of the
      // tiny model beat 0.5 by 0.14 or more: asked for, 0.1 (and 0.9 of the truth).
      assert.ok((r.true_accuracy as number) >= 0.9, `true_accuracy ${r.true_accuracy}`);
      assert.ok((r.accuracy as number) >= 0.5 + 0.1, `accuracy ${r.accuracy}`);
      const gap = (r.test_nll_per_frame as number) - (r.true_nll_per_frame as number);
      assert.ok(Math.abs(gap - (r.gap_per_frame as number)) < 1e-9);
    });

    await t.step(
      "per class: its run, its true NLL (as its run's own finish hook computed it), the gap",
      async () => {
        const classes = r.classes as Record<string, number>[];
        for (const k of [0, 1]) {
          assert.ok(exists(join(classDir(k), "best.ckpt")));
          const s = JSON.parse(await Deno.readTextFile(join(classDir(k), "summary.json")));
          assert.equal(s.epochs, 2);
          assert.ok(Number.isFinite(s.samples_true_nll_per_frame));
          const c = classes[k];
          assert.ok(Math.abs(c.true_nll_per_frame - s.true_test_nll_per_frame) < 1e-9);
          assert.equal(c.samples_true_nll_per_frame, s.samples_true_nll_per_frame);
          assert.ok(Math.abs(c.gap_per_frame - (c.test_nll_per_frame - c.true_nll_per_frame)) < 1e-12);
        }
        assert.equal(lines.map((l) => JSON.parse(l)).filter((m) => m.kind === "class").length, 2);
      },
    );

    await t.step(
      "report.json lists the model, then the true HMMs; confusion CSV and PNG for both",
      async () => {
        const rep = JSON.parse(await Deno.readTextFile(join(runDir, "report.json")));
        assert.deepEqual(rep.variants.map((v: { variant: string }) => v.variant), [
          "dyn_esn_flow",
          "true_hmm",
        ]);
        assert.equal(rep.variants[0].accuracy, r.accuracy);
        assert.equal(rep.variants[1].accuracy, r.true_accuracy);
        for (const v of rep.variants) assert.deepEqual([v.chance_uniform, v.majority_baseline], [0.5, 0.5]);
        assert.equal(rep.variants[1].test_nll_per_frame, r.true_nll_per_frame);
        for (const v of ["dyn_esn_flow", "true_hmm"]) {
          const csv = await Deno.readTextFile(join(runDir, `confusion_${v}.csv`));
          const counts = csv.trim().split("\n").slice(1).flatMap((l) => l.split(",").slice(1).map(Number));
          assert.equal(counts.reduce((a, b) => a + b, 0), 100);
          assert.ok(exists(join(runDir, `confusion_${v}.png`)));
        }
        assert.match(await Deno.readTextFile(join(runDir, "report.md")), /\| true_hmm \| 2 \| 100 \|/);
      },
    );

    await t.step("running again into the run directory skips the finished classes", async () => {
      const text: string[] = [];
      const human = new Logger({ err: (s) => text.push(s), out: () => {}, tty: false });
      const again = await esnFlowSynthetic.run!(cfg, { runDir, resume: null, log: human });
      assert.deepEqual([again.trained, again.resumed, again.skipped], [0, 0, 2]);
      assert.match(text.join(""), /class_1; skipped \(another --out directory trains it again\)/);
      assert.equal(again.test_nll_per_frame, r.test_nll_per_frame);
      assert.equal(again.accuracy, r.accuracy);
    });
  } finally {
    await Deno.remove(runDir, { recursive: true });
  }
});

/** The tensors of a checkpoint by group and name, as plain arrays (for exact comparison). */
async function checkpointTensors(path: string) {
  const { header, tensors } = await loadCheckpoint(path);
  const groups = Object.fromEntries(
    Object.entries(tensors).map((
      [g, ts]: [string, readonly HostTensor[]],
    ) => [g, ts.map((t) => [t.name, t.shape, Array.from(t.data)])]),
  );
  return { epoch: header.epoch, step: header.step, groups };
}

/** The epoch records of a class run's metrics.jsonl (none while it does not exist). */
async function epochRecords(dir: string): Promise<{ epoch: number; train_loss: number }[]> {
  const text = await Deno.readTextFile(join(dir, "metrics.jsonl")).catch(() => "");
  // A line being written may be cut short: only complete lines count.
  return text.split("\n").slice(0, -1).map((l) => JSON.parse(l)).filter((r) => r.kind === "epoch");
}

Deno.test({
  name: "a class killed in the middle of its training resumes to the uninterrupted run's result, bit for bit",
  sanitizeResources: false,
  async fn() {
    const tmp = await Deno.makeTempDir({ prefix: "esn_flow_synthetic_kill_" });
    const EPOCHS = 40;
    const args = [
      "--name",
      "esn_flow_synthetic",
      "--backend",
      "wasm",
      ...Object.entries({ ...tiny, n_test: 10, epochs: EPOCHS, eval_epochs: 5 }).flatMap(([k, v]) => [
        `--${k}`,
        String(v),
      ]),
      "--json",
    ];
    const [whole, cut] = [`${tmp}/whole`, `${tmp}/cut`];
    const cls = (run: string, k: number) => classRunDir(run, "dyn_esn_flow", `class_${k}`);
    try {
      const ref = await runCli([...args, "--out", whole]);
      assert.equal(ref.code, 0, ref.stderr);

      // A real interruption: the process is killed (SIGKILL, no clean-up) once class_1, the second class
      // trained, has recorded epoch 3 of 40 (~15 ms an epoch here), so class_0 is finished and class_1 is
      // in the middle of its training, with a last.ckpt of epoch 2 or later.
      const child = spawnCli([...args, "--out", cut]);
      try {
        const deadline = Date.now() + 120_000;
        while ((await epochRecords(cls(cut, 1))).length < 3) {
          assert.ok(Date.now() < deadline, "class_1 did not reach epoch 3 in 2 minutes");
          await new Promise((r) => setTimeout(r, 5));
        }
      } finally {
        child.kill("SIGKILL");
        await child.status;
      }
      assert.ok(exists(join(cls(cut, 0), "summary.json")), "class_0 finished before the kill");
      assert.ok(!exists(join(cls(cut, 1), "summary.json")), "class_1 was killed before it finished");
      const at = (await checkpointTensors(join(cls(cut, 1), "last.ckpt"))).epoch;
      assert.ok(at >= 2 && at < EPOCHS, `class_1 killed after epoch ${at} of ${EPOCHS}`);

      const resumed = await runCli(["--resume", cut, "--json"]);
      assert.equal(resumed.code, 0, resumed.stderr);
      const s = JSON.parse(resumed.stdout.trim().split("\n").at(-1)!);
      assert.deepEqual([s.trained, s.resumed, s.skipped], [0, 1, 1]);
      assert.match(
        resumed.stderr,
        new RegExp(`Resuming esn_flow_synthetic from "[^"]*class_1/last\\.ckpt" after epoch ${at} \\(`),
      );

      // The resumed process trained the epochs after the checkpoint, and only those.
      const trained = [...resumed.stderr.matchAll(new RegExp(`^epoch (\\d+)/${EPOCHS} `, "gm"))].map((m) =>
        +m[1]
      );
      assert.deepEqual(trained, Array.from({ length: EPOCHS - at }, (_, i) => at + 1 + i));

      // The runner promises the uninterrupted result: equal, not close. The model, Adam's state, epoch
      // and step of both checkpoints; every epoch's training loss; the per-class and overall results.
      for (const f of ["last.ckpt", "best.ckpt"]) {
        assert.deepEqual(
          await checkpointTensors(join(cls(cut, 1), f)),
          await checkpointTensors(join(cls(whole, 1), f)),
          f,
        );
      }
      const losses = async (run: string) =>
        (await epochRecords(cls(run, 1))).map((r) => [r.epoch, r.train_loss]);
      const [a, b] = [await losses(whole), await losses(cut)];
      assert.equal(a.length, EPOCHS);
      // The killed process may have recorded an epoch after its last checkpoint: the resume redoes it.
      assert.deepEqual(b.filter(([e]) => e > at), a.filter(([e]) => e > at));
      const report = async (run: string) => JSON.parse(await Deno.readTextFile(join(run, "report.json")));
      assert.deepEqual((await report(cut)).variants, (await report(whole)).variants);
      const r = JSON.parse(ref.stdout.trim().split("\n").at(-1)!);
      for (const k of ["test_nll_per_frame", "accuracy", "classes"]) assert.deepEqual(s[k], r[k], k);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test("esn_flow_synthetic rejects inconsistent configs, naming the keys", async (t) => {
  const log = new Logger({ quiet: true });
  const reject = (over: Record<string, number>, why: RegExp) =>
    assert.rejects(
      () =>
        esnFlowSynthetic.run!(resolveConfig(esnFlowSynthetic.config, { ...tiny, ...over }), {
          runDir: "/nonexistent",
          resume: null,
          log,
        }),
      why,
    );
  await t.step("lengths", () => reject({ min_length: 12 }, /max_length \(10\) must be >= min_length \(12\)/));
  await t.step(
    "one class cannot be classified",
    () => reject({ n_classes: 1 }, /n_classes must be at least 2/),
  );
});
