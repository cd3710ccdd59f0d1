/**
 * `esn_flow_timit --protocol genhmm` with noisy test sets, end to end through the CLI on a small stand-in
 * corpus (3 training speakers, 8 test speakers), with tiny models, as tests/esn_flow_timit_test.ts. They
 * train 40 epochs (3 s): on min-max features in [0, 1] the flows start far from the data's scale, and
 * after 10 epochs every segment still goes to `sil`, the class with the most training steps.
 */
import assert from "node:assert/strict";
import { runCli as cli } from "./helpers/cli.ts";
import { jsonSummary as summary, tinyStandIn } from "./helpers/timit_fixture.ts";
import { writeWav } from "../lib/data/timit/wav.ts";
import { loadCheckpoint } from "../lib/runner/checkpoint.ts";

const { tmp, args } = await tinyStandIn("esn_flow_timit_genhmm_test_");
const TINY = args("--protocol", "genhmm", "--classes", "3", "--epochs", "40", "--sample_classes", "0");

const json = (path: string) => Deno.readTextFile(path).then(JSON.parse);

interface Noisy {
  variant: string;
  noise: string;
  snr_db: number;
  accuracy: number;
  test_nll_per_frame: number;
  test_segments: number;
}

Deno.test({
  name: "esn_flow_timit --protocol genhmm trains, scores noisy test sets and reports them",
  sanitizeResources: false,
  async fn(t) {
    const run = `${tmp}/run`;
    await t.step("--test_noise white,babble --snr_db 0,20: a row per noise, a column per SNR", async () => {
      const r = await cli([
        ...TINY,
        "--out",
        run,
        "--json",
        "--test_noise",
        "white,babble",
        "--snr_db",
        "0,20",
        "--babble_talkers",
        "2",
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /protocol: genhmm; profile: standin/);
      const s = summary(r.stdout);
      assert.equal(s.protocol, "genhmm");
      assert.equal(s.trained, 3);
      const classCfg = (await json(`${run}/models/dyn_esn_flow/sil/config.json`)).config;
      assert.equal(classCfg.frame_dim, 39, "the genhmm protocol's default frame size");
      assert.equal(
        classCfg.val_fraction,
        0.2,
        "class runs record the validation share they were trained with",
      );
      assert.equal(classCfg.optimizer, "adam", "the standin profile keeps Adam");
      const rep = await json(`${run}/report.json`);
      assert.equal(rep.protocol, "genhmm");
      assert.equal(rep.test_set, "all of TEST");
      const clean = rep.variants[0];
      const noise: Noisy[] = rep.noise;
      assert.deepEqual(noise.map((n) => `${n.noise} ${n.snr_db}`), [
        "white 0",
        "white 20",
        "babble 0",
        "babble 20",
      ]);
      for (const n of noise) {
        assert.equal(n.variant, "dyn_esn_flow");
        assert.equal(n.test_segments, clean.test_segments, "noise changes the audio, not the segments");
        assert.equal(s[`accuracy_dyn_esn_flow_${n.noise}_${n.snr_db}dB`], n.accuracy);
      }
      // Noise costs accuracy at 0 dB, hardly any at 20 dB (measured: clean 78.6%; white 62.5% / 78.9%,
      // babble 53.8% / 74.8% at 0 / 20 dB).
      const at = (kind: string, snr: number) => noise.find((n) => n.noise === kind && n.snr_db === snr)!;
      for (const kind of ["white", "babble"]) {
        assert.ok(at(kind, 0).accuracy + 0.08 < at(kind, 20).accuracy, `${kind}: 0 dB below 20 dB`);
        assert.ok(at(kind, 0).accuracy + 0.08 < clean.accuracy, `${kind}: 0 dB below clean`);
      }
      const png = await Deno.readFile(`${run}/noise_accuracy.png`);
      assert.deepEqual(Array.from(png.subarray(1, 4)), [0x50, 0x4e, 0x47]);
      const md = await Deno.readTextFile(`${run}/report.md`);
      assert.match(md, /\| model \| noise \| 0 dB \| 20 dB \| clean \|/);
      assert.match(md, /\| dyn_esn_flow \| babble \| [\d.]+% \| [\d.]+% \| [\d.]+% \|/);
      assert.match(md, /## Published TIMIT results/);
      assert.match(md, /synthetic stand-in corpus, not TIMIT/);
      assert.match(md, /GenHMM, Liu et al\. 2019 .* \| GenHMM \| white noise 15 dB, K=3 \| 52\.4% \|/);
      assert.ok(rep.published.some((p: { accuracy: number }) => p.accuracy === 86.6));
    });
    await t.step("--stage eval runs another noise grid on the trained run, training nothing", async () => {
      const before = await json(`${run}/models/dyn_esn_flow/sil/summary.json`);
      const r = await cli([
        ...TINY,
        "--out",
        run,
        "--json",
        "--stage",
        "eval",
        "--test_noise",
        "pink",
        "--snr_db",
        "10",
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stderr, /training in|resuming from/);
      const rep = await json(`${run}/report.json`);
      assert.deepEqual(rep.noise.map((n: Noisy) => `${n.noise} ${n.snr_db}`), ["pink 10"]);
      assert.deepEqual(await json(`${run}/models/dyn_esn_flow/sil/summary.json`), before);
    });
  },
});

Deno.test({
  name: "esn_flow_timit --profile original trains with SGD and the original's convergence monitor",
  sanitizeResources: false,
  async fn() {
    const run = `${tmp}/original`;
    const args = TINY.map((a, i) => (TINY[i - 1] === "--classes" ? "2" : a));
    const r = await cli([...args, "--out", run, "--json", "--profile", "original"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /changed: optimizer adam -> sgd, early_stop none -> converged, early_stop_tol 0 -> 0\.015/,
    );
    for (const cls of ["m", "sil"]) {
      const dir = `${run}/models/dyn_esn_flow/${cls}`;
      const cfg = (await json(`${dir}/config.json`)).config;
      assert.deepEqual([cfg.optimizer, cfg.early_stop, cfg.early_stop_tol, cfg.early_stop_patience, cfg.lr], [
        "sgd",
        "converged",
        0.015,
        3,
        1e-4,
      ]);
      assert.equal((await loadCheckpoint(`${dir}/last.ckpt`)).header.optimizerClass, "SGD");
      const sum = await json(`${dir}/summary.json`);
      assert.equal(sum.early_stop, "converged");
      // SGD at 1e-4 barely moves these tiny models: the monitor stops them at its earliest, the 5th epoch.
      assert.equal(sum.stopped_epoch, 5, cls);
    }
  },
});

Deno.test({
  name: "esn_flow_timit refuses bad noise input before it computes or writes anything",
  sanitizeResources: false,
  async fn(t) {
    const run = `${tmp}/bad`;
    await t.step("an SNR that is not a number: exit 2 naming it, the run directory not made", async () => {
      const r = await cli([...TINY, "--out", run, "--test_noise", "white", "--snr_db", "10,1O"]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /--snr_db: "1O" is not a number/);
      await assert.rejects(Deno.stat(run), Deno.errors.NotFound);
    });
    await t.step(
      "a noise file at 8 kHz: exit 1 naming the file and both rates, nothing trained",
      async () => {
        const file = `${tmp}/noise8k.wav`;
        await Deno.writeFile(
          file,
          writeWav(Int16Array.from({ length: 80000 }, (_, i) => (i * 7919) % 2001 - 1000), 8000),
        );
        const r = await cli([...TINY, "--out", run, "--test_noise", file]);
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, new RegExp(`${file}.*8000.*16000`));
        // Refused as soon as the corpus was scanned: no statistics, no features, no models.
        await assert.rejects(Deno.stat(`${run}/models`), Deno.errors.NotFound);
        assert.doesNotMatch(r.stderr, /mfcc (train|test)/);
      },
    );
    await t.step("--val_set with the genhmm protocol: exit 2 saying why", async () => {
      const r = await cli([...TINY, "--out", `${tmp}/bad2`, "--val_set", "seeded"]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /--val_set belong to --protocol echoflow/);
    });
  },
});
