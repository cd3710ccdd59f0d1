/**
 * `deno task compare`: the config keys that differ, the final metrics, the picture, per-class runs, and a
 * clear error naming a missing or corrupt run directory; end to end on real runs of `gaussian_2d` and of a
 * tiny `esn_flow_timit` (both variants).
 */
import assert from "node:assert/strict";
import { decode } from "fast-png";
import {
  compareJsonLines,
  compareTable,
  differingKeys,
  entryLabels,
  readRun,
  type RunEntry,
  RunReadError,
} from "../lib/compare/mod.ts";
import { PALETTE } from "../lib/plot/mod.ts";
import { runCli, runScript } from "./helpers/cli.ts";
import { tinyStandIn } from "./helpers/timit_fixture.ts";

const jsonl = (recs: unknown[]) => recs.map((r) => JSON.stringify(r)).join("\n") + "\n";

/** A single run directory written by hand, as the runner lays it out. */
function fakeRun(
  dir: string,
  config: Record<string, unknown>,
  vals: number[],
  summary: Record<string, unknown> | null = {
    best_epoch: 2,
    val_nll: 1.5,
    test_nll: 1.6,
    epochs: 3,
    steps: 30,
  },
): void {
  Deno.mkdirSync(dir, { recursive: true });
  Deno.writeTextFileSync(`${dir}/config.json`, JSON.stringify({ experiment: "demo", config }));
  const recs = vals.flatMap((v, i) => [
    { kind: "epoch", epoch: i + 1, step: 10 * (i + 1), train_loss: v + 0.1, lr: 0.1 },
    { kind: "eval", split: "val", epoch: i + 1, step: 10 * (i + 1), nll: v },
    ...(i === 1 ? [{ kind: "eval", split: "test", epoch: 2, step: 20, nll: v + 0.2 }] : []),
  ]);
  Deno.writeTextFileSync(`${dir}/metrics.jsonl`, jsonl(recs));
  if (summary) Deno.writeTextFileSync(`${dir}/summary.json`, JSON.stringify(summary));
}

const entry = (config: Record<string, unknown>, experiment = "demo"): RunEntry => ({
  dir: "/x",
  variant: null,
  experiment,
  config,
  status: "finished",
  metrics: {},
  curves: new Map(),
});

Deno.test("differingKeys() lists the config keys whose values differ, a key one run lacks included", () => {
  const a = entry({ lr: 0.1, seed: 0, model: "x", extra: [1, 2], same: { k: 1 } });
  const b = entry({ lr: 0.01, seed: 0, model: "x", extra: [1, 3], same: { k: 1 }, newer: true });
  assert.deepEqual(differingKeys([a, b]), ["extra", "lr", "newer"]);
  assert.deepEqual(differingKeys([a, a]), []);
  assert.deepEqual(differingKeys([a, entry(a.config, "other")]), ["experiment"]);
});

Deno.test("readRun() reads a single run; compareTable() and the JSON lines show what differs", async () => {
  const root = await Deno.makeTempDir();
  try {
    fakeRun(`${root}/a`, { lr: 0.1, seed: 0, epochs: 3 }, [3, 1.5, 1.7]);
    fakeRun(`${root}/b`, { lr: 0.01, seed: 0, epochs: 3 }, [4, 2.5, 2], null);
    const entries = [...await readRun(`${root}/a`), ...await readRun(`${root}/b`)];
    assert.deepEqual(entries.map((e) => [e.status, e.metrics]), [
      ["finished", { best_epoch: 2, val_nll: 1.5, test_nll: 1.6, epochs: 3 }],
      // Unfinished: from the records, the best validation NLL so far and the test NLL at it.
      ["unfinished", { best_epoch: 3, val_nll: 2, epochs: 3 }],
    ]);
    assert.deepEqual(entries[0].curves.get(""), { x: [1, 2, 3], y: [3, 1.5, 1.7] });
    const table = compareTable(entries).split("\n");
    assert.deepEqual(table[0].trim().split(/\s+/), ["a", "b"]);
    assert.ok(table.some((l) => /^ {2}lr\s+0\.1\s+0\.01$/.test(l)), table.join("\n"));
    const configRows = table.slice(
      table.indexOf("config (keys that differ)") + 1,
      table.indexOf("final metrics"),
    );
    assert.deepEqual(
      configRows.map((l) => l.trim().split(/\s+/)[0]),
      ["lr"],
      "keys of equal values left out",
    );
    assert.ok(table.some((l) => /^ {2}test_nll\s+1\.6\s+-$/.test(l)));
    const lines = compareJsonLines(entries, "p.png").map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => [l.kind, l.label, l.config]), [
      ["run", "a", { lr: 0.1 }],
      ["run", "b", { lr: 0.01 }],
      ["compare", undefined, undefined],
    ]);
    assert.deepEqual(lines[2], { kind: "compare", differing_keys: ["lr"], runs: 2, picture: "p.png" });
    // Directories of one name in two places are told apart by their paths.
    fakeRun(`${root}/c/a`, { lr: 1 }, [1]);
    assert.deepEqual(entryLabels([entries[0], ...await readRun(`${root}/c/a`)]), [
      `${root}/a`,
      `${root}/c/a`,
    ]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("readRun() refuses a missing or corrupt run directory, naming it and the file", async (t) => {
  const root = await Deno.makeTempDir();
  const refuses = async (dir: string, re: RegExp) =>
    await assert.rejects(
      () => readRun(dir),
      (e: Error) =>
        e instanceof RunReadError && e.message.startsWith(`Cannot compare run "${dir}": `) &&
        re.test(e.message),
    );
  try {
    await t.step("missing, not a directory, not a run", async () => {
      await refuses(`${root}/nope`, /no such directory/);
      Deno.writeTextFileSync(`${root}/file`, "x");
      await refuses(`${root}/file`, /not a directory/);
      Deno.mkdirSync(`${root}/empty`);
      await refuses(`${root}/empty`, /not a run directory \(it has no config\.json and no models\/\)/);
    });
    await t.step("corrupt files", async () => {
      fakeRun(`${root}/r`, { lr: 1 }, [2, 1]);
      Deno.writeTextFileSync(`${root}/r/config.json`, '{"experiment": "demo", "config": {');
      await refuses(`${root}/r`, /config\.json is not valid JSON/);
      fakeRun(`${root}/r`, { lr: 1 }, [2, 1]);
      Deno.writeTextFileSync(`${root}/r/summary.json`, "[1]");
      await refuses(`${root}/r`, /summary\.json is not a JSON object/);
      fakeRun(`${root}/r`, { lr: 1 }, [2, 1]);
      const lines = Deno.readTextFileSync(`${root}/r/metrics.jsonl`).split("\n");
      lines[1] = lines[1].slice(0, 20);
      Deno.writeTextFileSync(`${root}/r/metrics.jsonl`, lines.join("\n"));
      await refuses(`${root}/r`, /metrics\.jsonl line 2 is not JSON/);
      Deno.removeSync(`${root}/r/metrics.jsonl`);
      await refuses(`${root}/r`, /metrics\.jsonl is missing/);
    });
    await t.step("a partial last line (an append cut short) is skipped", async () => {
      fakeRun(`${root}/p`, { lr: 1 }, [2, 1]);
      Deno.writeTextFileSync(`${root}/p/metrics.jsonl`, '{"kind":"eval","spl', { append: true });
      assert.deepEqual((await readRun(`${root}/p`))[0].curves.get("")!.y, [2, 1]);
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("deno task compare: exit codes, JSON lines, the picture, and errors on stderr", async () => {
  const root = await Deno.makeTempDir();
  try {
    fakeRun(`${root}/a`, { lr: 0.1 }, [3, 1.5, 1.7]);
    fakeRun(`${root}/b`, { lr: 0.01 }, [4, 2.5, 2]);
    const ok = await runScript("lib/compare/cli.ts", [
      `${root}/a`,
      `${root}/b`,
      "--json",
      "--out",
      `${root}/c.png`,
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(JSON.parse(ok.stdout.trim().split("\n").at(-1)!).differing_keys, ["lr"]);
    const img = decode(Deno.readFileSync(`${root}/c.png`));
    const has = (c: readonly number[]) => {
      for (let i = 0; i < img.data.length; i += 3) {
        if (img.data[i] === c[0] && img.data[i + 1] === c[1] && img.data[i + 2] === c[2]) return true;
      }
      return false;
    };
    assert.ok(has(PALETTE[0]) && has(PALETTE[1]), "one colour per run");
    const missing = await runScript("lib/compare/cli.ts", [
      `${root}/a`,
      `${root}/gone`,
      "--out",
      `${root}/d.png`,
    ]);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr.trim(), `error: Cannot compare run "${root}/gone": no such directory`);
    assert.ok(!Deno.statSync(root).isFile && ![...Deno.readDirSync(root)].some((e) => e.name === "d.png"));
    const usage = await runScript("lib/compare/cli.ts", []);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /error: No run directories given\n\nUsage: deno task compare RUN_DIR/);
    assert.equal((await runScript("lib/compare/cli.ts", [`${root}/a`, "--nope"])).code, 2);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test({
  name: "compare on real runs: gaussian_2d at two learning rates, and esn_flow_timit's two variants",
  sanitizeResources: false,
  async fn(t) {
    const root = await Deno.makeTempDir();
    try {
      await t.step("two single runs: only lr differs", async () => {
        for (const [dir, lr] of [["g1", "0.05"], ["g2", "0.02"]]) {
          const r = await runCli([
            "--name",
            "gaussian_2d",
            "--epochs",
            "3",
            "--lr",
            lr,
            "--out",
            `${root}/${dir}`,
            "--quiet",
          ]);
          assert.equal(r.code, 0, r.stderr);
          assert.ok(Deno.statSync(`${root}/${dir}/curves.png`).size > 1000, "every run leaves curves.png");
        }
        const r = await runScript("lib/compare/cli.ts", [
          `${root}/g1`,
          `${root}/g2`,
          "--out",
          `${root}/g.png`,
        ]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(
          r.stdout,
          /config \(keys that differ\)\n {2}lr +0\.05 +0\.02\nfinal metrics\n {2}best_epoch/,
        );
        assert.match(r.stdout, /validation curves: .*g\.png/);
      });
      await t.step(
        "a per-class run with two variants: model differs; accuracy and per-class NLL",
        async () => {
          const { args } = await tinyStandIn("compare_test_");
          const run = `${root}/timit`;
          const tiny = args(
            "--classes",
            "3",
            "--epochs",
            "8",
            "--sample_classes",
            "0",
            "--out",
            run,
            "--quiet",
          );
          for (const extra of [[], ["--model", "gmm_esn"]]) {
            const r = await runCli([...tiny, ...extra]);
            assert.equal(r.code, 0, r.stderr);
          }
          // The report links each variant's per-class curves.
          const md = Deno.readTextFileSync(`${run}/report.md`);
          for (const v of ["dyn_esn_flow", "gmm_esn"]) {
            assert.ok(md.includes(`![curves ${v}](curves_${v}.png)`), v);
            assert.ok(
              decode(Deno.readFileSync(`${run}/curves_${v}.png`)).width > 700,
              "3 classes and a legend",
            );
          }
          const r = await runScript("lib/compare/cli.ts", [run, "--json", "--out", `${root}/t.png`]);
          assert.equal(r.code, 0, r.stderr);
          const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
          assert.deepEqual(lines.at(-1).differing_keys, ["model"]);
          const runs = lines.filter((l) => l.kind === "run");
          assert.deepEqual(runs.map((l) => [l.variant, l.config.model]), [["dyn_esn_flow", "dyn_esn_flow"], [
            "gmm_esn",
            "gmm_esn",
          ]]);
          const reported = JSON.parse(Deno.readTextFileSync(`${run}/report.json`)).variants;
          for (const l of runs) {
            const v = reported.find((v: { variant: string }) => v.variant === l.variant);
            assert.equal(l.metrics.accuracy, v.accuracy, "the report's accuracy");
            // The models must have learnt: measured with 8 epochs, seeds 0..4, dyn_esn_flow 0.765 to 0.851
            // and gmm_esn 0.765 to 0.855 against the majority baseline 0.602 (sil; chance 1/3), as in
            // esn_flow_timit_test; at least 0.1 above it is asked for.
            assert.ok(v.accuracy >= v.majority_baseline + 0.1, `${l.variant}: ${v.accuracy}`);
            const perClass = Object.keys(l.metrics).filter((k) => k.startsWith("test_nll_per_frame "));
            assert.equal(perClass.length, 3, JSON.stringify(l.metrics));
          }
          assert.ok(decode(Deno.readFileSync(`${root}/t.png`)).width > 700, "one panel per class");
        },
      );
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
