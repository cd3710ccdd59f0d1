/**
 * The CLI, tested by spawning main.ts with the permissions of the `run` task and asserting stdout,
 * stderr and the exit code. Runs use `gaussian_2d` on the cpu backend with a few hundred points, so each
 * spawn takes about a second.
 */
import assert from "node:assert/strict";
import { runCli as cli } from "./helpers/cli.ts";
import { ADAPTER } from "./helpers/webgpu.ts";
import { gaussian2d } from "../experiments/gaussian_2d.ts";

const SMALL = [
  "--backend",
  "cpu",
  "--n_train",
  "200",
  "--n_val",
  "50",
  "--n_test",
  "50",
  "--batch_size",
  "50",
];

Deno.test("--list and --help print every experiment", async (t) => {
  await t.step("--list: name and description, exit 0", async () => {
    const r = await cli(["--list"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`gaussian_2d\\s+${gaussian2d.description.slice(0, 20)}`));
  });
  await t.step("--help: usage, flags and the list", async () => {
    const r = await cli(["--help"]);
    assert.equal(r.code, 0, r.stderr);
    for (const s of ["Usage:", "--backend", "--resume", "--json", "--out", "gaussian_2d"]) {
      assert.ok(r.stdout.includes(s), s);
    }
  });
  await t.step("--name X --help: every key with type and default", async () => {
    const r = await cli(["--name", "gaussian_2d", "--help"]);
    assert.equal(r.code, 0, r.stderr);
    for (const [k, f] of Object.entries(gaussian2d.config)) {
      const flag = k === "name" ? "run_name" : k;
      const def = f.default === null
        ? "none"
        : typeof f.default === "string"
        ? JSON.stringify(f.default)
        : String(f.default);
      const line = r.stdout.split("\n").find((l) => l.trim().startsWith(`--${flag} `));
      assert.ok(line, `no help line for ${k}`);
      assert.ok(
        line.includes(f.type === "choice" ? "{" : f.type) && line.includes(def) && line.includes(f.doc),
        line,
      );
    }
  });
});

Deno.test("usage errors exit 2 and list the valid choices", async (t) => {
  await t.step("unknown experiment lists the names", async () => {
    const r = await cli(["--name", "nope"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Unknown experiment "nope"\. Valid names: .*gaussian_2d/);
    assert.equal(r.stdout, "");
  });
  await t.step("unknown key lists the keys", async () => {
    const r = await cli(["--name", "gaussian_2d", "--learning_rate", "1"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Unknown config key "learning_rate"\. Valid keys: .*batch_size.*lr/);
  });
  await t.step("wrong type names the expected type", async () => {
    const r = await cli(["--name", "gaussian_2d", "--epochs", "2.5"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--epochs expects an integer, got "2\.5"/);
    const c = await cli(["--name", "gaussian_2d", "--optimizer", "rmsprop"]);
    assert.equal(c.code, 2);
    assert.match(c.stderr, /must be one of adam, sgd/);
  });
  await t.step(
    "early_stop keys: a rule of the list, a patience of 1 or more, a finite tol of 0 or more",
    async () => {
      for (
        const [args, re] of [
          [["--early_stop", "sometimes"], /--early_stop must be one of none, no_improvement, converged/],
          [["--early_stop_patience", "0"], /--early_stop_patience must be at least 1, got 0/],
          [["--early_stop_tol", "-0.1"], /--early_stop_tol must be at least 0, got -0\.1/],
          [["--early_stop_tol", "nan"], /--early_stop_tol expects a number, got "nan"/],
          [["--early_stop_tol", "Infinity"], /--early_stop_tol expects a number, got "Infinity"/],
        ] as const
      ) {
        const r = await cli(["--name", "gaussian_2d", ...args]);
        assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
        assert.match(r.stderr, re);
      }
    },
  );
  await t.step(
    "model sizes of the dynamic flow below their minimum, or a leaking rate above 1: exit 2",
    async () => {
      for (
        const [args, re] of [
          [["--esn_dim", "0"], /--esn_dim must be at least 1, got 0/],
          [["--hidden_layer_dim", "0"], /--hidden_layer_dim must be at least 1, got 0/],
          [["--n_flow_layers", "0"], /--n_flow_layers must be at least 1, got 0/],
          [["--leaking_rate", "1.5"], /--leaking_rate must be at most 1, got 1\.5/],
        ] as const
      ) {
        const r = await cli(["--name", "esn_flow_synthetic", ...args]);
        assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
        assert.match(r.stderr, re);
      }
    },
  );
  await t.step("bad --backend lists the backends", async () => {
    const r = await cli(["--name", "gaussian_2d", "--backend", "tpu"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /auto, webgpu, wasm, cpu/);
  });
});

Deno.test("a run writes its directory; overrides reach config.json; --json is pure JSON lines", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "echoflow_cli_" });
  try {
    await t.step("default run directory under runs/ with overrides", async () => {
      const r = await cli([
        "--name=gaussian_2d",
        ...SMALL,
        "--epochs",
        "2",
        "--lr",
        "0.02",
        "--eval_train",
        "--no-log_timing",
        "--grad_clip_norm",
        "5",
        "--run_name",
        "first",
        "--quiet",
      ], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      const runs = [...Deno.readDirSync(`${dir}/runs`)].map((e) => e.name);
      assert.equal(runs.length, 1);
      assert.match(runs[0], /^first-\d{8}-\d{6}$/);
      const cfg = JSON.parse(Deno.readTextFileSync(`${dir}/runs/${runs[0]}/config.json`));
      assert.equal(cfg.experiment, "gaussian_2d");
      assert.equal(cfg.backend, "cpu");
      assert.deepEqual(
        [cfg.config.epochs, cfg.config.lr, cfg.config.eval_train, cfg.config.grad_clip_norm, cfg.config.name],
        [2, 0.02, true, 5, "first"],
      );
      for (
        const f of ["metrics.jsonl", "summary.json", "best.ckpt", "last.ckpt", "samples/samples_epoch2.csv"]
      ) {
        assert.ok(Deno.statSync(`${dir}/runs/${runs[0]}/${f}`).isFile, f);
      }
    });
    await t.step("--json: every stdout line is JSON, the last is the summary", async () => {
      const r = await cli([
        "--name",
        "gaussian_2d",
        ...SMALL,
        "--epochs",
        "2",
        "--log_interval",
        "2",
        "--json",
        "--out",
        `${dir}/j`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      const recs = r.stdout.trimEnd().split("\n").map((l) => JSON.parse(l));
      assert.deepEqual(
        new Set(recs.map((x) => x.kind)),
        new Set(["train", "epoch", "eval", "samples", "summary"]),
      );
      const last = recs.at(-1);
      assert.equal(last.kind, "summary");
      assert.equal(last.backend, "cpu");
      assert.ok(Number.isFinite(last.test_nll) && Number.isFinite(last.ref_true_test_nll));
      assert.deepEqual([last.early_stop, last.stopped_epoch, last.epochs], ["none", null, 2]);
      assert.match(r.stderr, /backend: cpu/);
      const { kind: _, ...rest } = last;
      assert.deepEqual(JSON.parse(Deno.readTextFileSync(`${dir}/j/summary.json`)), rest);
      const lines = Deno.readTextFileSync(`${dir}/j/metrics.jsonl`).trimEnd().split("\n");
      assert.equal(lines.length, recs.length);
    });
    await t.step("--resume continues a run dir, appends metrics, warns about changed keys", async () => {
      const r = await cli(["--resume", `${dir}/j`, "--epochs", "3", "--json", "--backend", "cpu"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(
        r.stderr,
        /warning: config key "epochs" differs from the checkpoint: 2 -> 3/,
      );
      const recs = r.stdout.trimEnd().split("\n").map((l) => JSON.parse(l));
      assert.deepEqual(recs.filter((x) => x.kind === "epoch").map((x) => x.epoch), [3]);
      assert.equal(recs.at(-1).epochs, 3);
      const all = Deno.readTextFileSync(`${dir}/j/metrics.jsonl`).trimEnd().split("\n").map((l) =>
        JSON.parse(l)
      );
      assert.deepEqual(all.filter((x) => x.kind === "epoch").map((x) => x.epoch), [1, 2, 3]);
    });
    await t.step("runtime failure exits 1 without a stack trace", async () => {
      const bytes = Deno.readFileSync(`${dir}/j/last.ckpt`);
      Deno.writeFileSync(`${dir}/cut.ckpt`, bytes.subarray(0, bytes.length - 100));
      const r = await cli(["--resume", `${dir}/cut.ckpt`, "--backend", "cpu"]);
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /error: Cannot load checkpoint ".*cut\.ckpt": file has \d+ bytes, its header expects \d+/,
      );
      assert.doesNotMatch(r.stderr, /\n\s+at /);
      const d = await cli(["--resume", `${dir}/cut.ckpt`, "--backend", "cpu"], {
        env: { ECHOFLOW_DEBUG: "1" },
      });
      assert.equal(d.code, 1);
      assert.match(d.stderr, /\n\s+at /);
    });
    await t.step("divergence exits 1 naming epoch and batch", async () => {
      const r = await cli([
        "--name",
        "gaussian_2d",
        ...SMALL,
        "--optimizer",
        "sgd",
        "--lr",
        "1e12",
        "--warmup_epochs",
        "0",
        "--out",
        `${dir}/nan`,
      ]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /error: Training diverged: loss is (NaN|-?Infinity) at epoch 1, batch \d+/);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--early_stop ends a run early; --resume of the stopped run trains nothing more", async () => {
  const dir = await Deno.makeTempDir({ prefix: "echoflow_cli_early_" });
  try {
    // Patience 1 at tol 0.5: the 2nd check (3rd evaluation) passes, the 1st never counts.
    const stop = ["--early_stop", "converged", "--early_stop_tol", "0.5", "--early_stop_patience", "1"];
    const r = await cli([
      "--name",
      "gaussian_2d",
      ...SMALL,
      "--epochs",
      "10",
      ...stop,
      "--out",
      dir,
      "--json",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const recs = r.stdout.trimEnd().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(recs.filter((x) => x.kind === "early_stop").map((x) => [x.epoch, x.rule]), [[
      3,
      "converged",
    ]]);
    assert.match(
      r.stderr,
      /Early stopping \(converged\) after epoch 3: relative change of the validation NLL/,
    );
    const summary = recs.at(-1);
    assert.deepEqual([summary.early_stop, summary.stopped_epoch, summary.epochs], ["converged", 3, 3]);

    const again = await cli(["--resume", dir, "--backend", "cpu", "--json"]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /The run had stopped early at epoch 3 \(/);
    const more = again.stdout.trimEnd().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(more.filter((x) => x.kind === "epoch" || x.kind === "eval"), []);
    const { wall_s: _a, wall_s_this_process: _b, ...rest } = more.at(-1);
    const { wall_s: _c, wall_s_this_process: _d, ...want } = summary;
    assert.deepEqual(rest, want);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--resume of a run() experiment continues from its config.json and warns about changed keys", async () => {
  const dir = await Deno.makeTempDir({ prefix: "echoflow_cli_resume_run_" });
  try {
    const tiny = [
      "--n_classes",
      "2",
      "--n_train",
      "12",
      "--n_val",
      "6",
      "--n_test",
      "6",
      "--esn_dim",
      "12",
      "--hidden_layer_dim",
      "4",
      "--n_flow_layers",
      "1",
      "--eval_epochs",
      "1",
      "--backend",
      "cpu",
      "--quiet",
    ];
    const first = await cli(["--name", "esn_flow_synthetic", "--epochs", "1", "--out", dir, ...tiny]);
    assert.equal(first.code, 0, first.stderr);
    const saved = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
    assert.equal(saved.experiment, "esn_flow_synthetic");
    assert.equal(saved.config.epochs, 1);
    assert.ok(saved.explicit_keys.includes("epochs") && saved.explicit_keys.includes("n_classes"));
    assert.ok(!saved.explicit_keys.includes("lr"), "keys not given are not explicit");
    const classRun = JSON.parse(await Deno.readTextFile(`${dir}/models/dyn_esn_flow/class_0/summary.json`));
    assert.equal(classRun.backend, "cpu", "per-class runs record the backend the CLI selected");

    const again = await cli(["--resume", dir, "--epochs", "2", "--quiet"]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /config key "epochs" differs from the resumed run: 1 -> 2/);
    const resumed = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
    assert.equal(resumed.config.epochs, 2);
    assert.equal(resumed.config.n_train, 12, "keys not given again come from the saved run");

    const wrong = await cli(["--resume", dir, "--name", "gaussian_2d"]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /run of "esn_flow_synthetic", not "gaussian_2d"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--backend webgpu is not refused for experiments with host LU log-determinants", async () => {
  const out = await Deno.makeTempDir({ prefix: "echoflow_cli_webgpu_" });
  try {
    const res = await cli([
      ...["--name", "exact_fc_mnist", "--backend", "webgpu", "--epochs", "1", "--profile", "quick"],
      ...["--max_train", "10", "--batch_size", "10", "--max_eval_ex", "10", "--n_samples", "1", "--out", out],
    ]);
    // Formerly exit 2 ("reads tensors back synchronously"); now it trains, or fails only for want of an adapter.
    if (ADAPTER) assert.equal(res.code, 0, res.stderr);
    else {
      assert.equal(res.code, 1, res.stderr);
      assert.match(res.stderr, /Cannot use backend "webgpu"/);
    }
    assert.doesNotMatch(res.stderr, /synchronous/);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("--list --json prints one JSON object per experiment", async () => {
  const res = await cli(["--list", "--json"]);
  assert.equal(res.code, 0, res.stderr);
  const rows = res.stdout.trim().split("\n").map((l) => JSON.parse(l));
  assert.ok(rows.some((r) => r.kind === "experiment" && r.name === "esn_flow_timit" && r.description));
});
