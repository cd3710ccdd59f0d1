/**
 * The launchers without a cluster: the stage plan, shell words, job scripts (checked by `bash -n` and run
 * by hand), the Slurm launcher against stand-in `sbatch`/`sinfo`/`squeue` programs (what it submits, its
 * errors), the requeue lock hand-over, and the status command on a crafted run directory and on a local
 * run whose training child fails. The real cluster is tests/slurm_test.ts.
 */
import assert from "node:assert/strict";
import { planStages, taskLog, taskName, taskSettings } from "../lib/launch/plan.ts";
import { recordTaskStart, releaseEarlierRun, type TaskStart } from "../lib/launch/records.ts";
import { shellQuote, shellSplit } from "../lib/launch/shell.ts";
import { renderScript } from "../lib/launch/slurm_script.ts";
import { checkSlurmArgs } from "../lib/launch/slurm.ts";
import { runStatus } from "../lib/launch/status.ts";
import { formatStatus } from "../lib/launch/status_format.ts";
import { hostName } from "../lib/runner/run_lock.ts";
import { runCli as cli, runScript } from "./helpers/cli.ts";
import { tinyStandIn } from "./helpers/timit_fixture.ts";

const { tmp, args } = await tinyStandIn("launch_test_");
const TINY = args("--classes", "3", "--epochs", "1", "--sample_classes", "0");
const dec = new TextDecoder();
const bash = (script: string, env: Record<string, string> = {}) => {
  const out = new Deno.Command("bash", { args: ["-c", script], env, stdout: "piped", stderr: "piped" })
    .outputSync();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
};

Deno.test("planStages(): the stages --stage asks for, the train stage sharded, a launched task alone", () => {
  const names = (s: ReturnType<typeof planStages>) =>
    s.map((x) => `${x.name}:${x.tasks}${x.sharded ? "s" : ""}`);
  assert.deepEqual(names(planStages("all", { trainTasks: 1 })), ["prepare:1", "train:1", "eval:1"]);
  assert.deepEqual(names(planStages("all", { trainTasks: 4 })), ["prepare:1", "train:4s", "eval:1"]);
  assert.deepEqual(names(planStages("all", { trainTasks: 1, shardTrain: true })), [
    "prepare:1",
    "train:1s",
    "eval:1",
  ]);
  assert.deepEqual(names(planStages("train", { trainTasks: 2 })), ["prepare:1", "train:2s"]);
  assert.deepEqual(names(planStages("eval", { trainTasks: 2 })), ["eval:1"]);
  assert.deepEqual(names(planStages("train", { trainTasks: 2, only: true })), ["train:2s"]);
  // Claiming tasks (the local launcher's jobs): not shards; each task gets --claim and no --retrain.
  const claimed = planStages("all", { trainTasks: 2, claimTrain: true })[1];
  assert.deepEqual([claimed.claim, claimed.sharded], [true, false]);
  assert.deepEqual(taskSettings(claimed, 2), {
    stage: "train",
    claim: true,
    retrain: false,
    num_jobs: 1,
    launcher: "local",
  });
  assert.equal(taskName("dyn_esn_flow", claimed, 2), "dyn_esn_flow-train-2of2");
  assert.equal(
    planStages("all", { trainTasks: 1, claimTrain: true })[1].claim,
    false,
    "one task claims nothing",
  );
  assert.throws(() => planStages("all", { trainTasks: 0 }), /at least 1 task/);
  const train = planStages("all", { trainTasks: 14, maxRunning: 4 })[1];
  assert.equal(train.maxRunning, 4);
  assert.deepEqual(taskSettings(train, 3), { stage: "train", shard: "3/14", num_jobs: 1, launcher: "local" });
  assert.deepEqual(taskSettings(planStages("eval", { trainTasks: 1 })[0], 1), {
    stage: "eval",
    num_jobs: 1,
    launcher: "local",
  });
  assert.equal(taskName("dyn_esn_flow", train, 3), "dyn_esn_flow-train-3of14");
  assert.equal(
    taskLog("/r", taskName("gmm_esn", planStages("eval", { trainTasks: 1 })[0], 1)),
    "/r/logs/gmm_esn-eval.log",
  );
});

Deno.test("shellSplit() reads words as a shell does; shellQuote() words survive bash", () => {
  assert.deepEqual(shellSplit(` --partition=gpu  --time "2:00:00" --comment 'a b' x\\ y "q\\"z"`, "k"), [
    "--partition=gpu",
    "--time",
    "2:00:00",
    "--comment",
    "a b",
    "x y",
    'q"z',
  ]);
  assert.throws(() => shellSplit(`--comment 'a b`, "--slurm_args"), /--slurm_args: unclosed '/);
  const words = ["plain", "a b", "it's", `"$HOME"`, "`x`", "semi;colon", ""];
  const r = bash(`printf '%s\\n' ${words.map(shellQuote).join(" ")}`);
  assert.equal(r.stdout, words.map((w) => `${w}\n`).join(""));
});

Deno.test("checkSlurmArgs() refuses the options echoflow sets and finds the partition", () => {
  assert.deepEqual(checkSlurmArgs(["--partition=gpu", "--time=1:00:00"]), { partition: "gpu" });
  assert.deepEqual(checkSlurmArgs(["-p", "cpu", "-t", "10"]), { partition: "cpu" });
  assert.deepEqual(checkSlurmArgs(["--mem", "4G"]), { partition: null });
  assert.throws(
    () => checkSlurmArgs(["--array=1-4"]),
    /--array=1-4 is set by echoflow .*--slurm_array_limit/,
  );
  assert.throws(() => checkSlurmArgs(["-d", "afterok:1"]), /-d is set by echoflow/);
  assert.throws(() => checkSlurmArgs(["--output=x.log"]), /each task's log goes to <run dir>\/logs/);
});

Deno.test("renderScript(): an array job script that bash accepts, with its log, requeue and array limit", () => {
  const stage = planStages("all", { trainTasks: 3, maxRunning: 2 })[1];
  const script = renderScript({
    stage,
    runDir: "/runs/a b",
    variant: "dyn_esn_flow",
    submission: "s1",
    jobName: "echoflow-train:a b",
    cwd: "/work",
    commandOf: (s) => ["/bin/deno", "run", "main.ts", "--stage", String(s.stage), "--shard", String(s.shard)],
    mustSee: [{ what: "the record", path: "/runs/a b/launch/x.json" }],
    env: { ECHOFLOW_CHILD_JOB: "1" },
  });
  assert.match(script, /^#SBATCH --array=1-3%2$/m);
  assert.match(script, /^#SBATCH --requeue$/m);
  assert.match(script, /^#SBATCH '--output=\/runs\/a b\/logs\/dyn_esn_flow-train-%aof3\.log'$/m);
  assert.match(script, /--shard "\$\{task\}"\/3/);
  // A # or % in the run directory: quoted (sbatch would read a bare # as a comment), % doubled (Slurm's
  // filename patterns); both checked on a real cluster with sbatch 22.05.
  const odd = renderScript({
    stage,
    runDir: "/runs/x#y%j",
    variant: "dyn_esn_flow",
    submission: "s1",
    jobName: "j",
    cwd: "/work/#1",
    commandOf: () => ["/bin/deno", "run"],
    mustSee: [],
    env: {},
  });
  assert.match(odd, /^#SBATCH '--output=\/runs\/x#y%%j\/logs\/dyn_esn_flow-train-%aof3\.log'$/m);
  assert.match(odd, /^#SBATCH '--chdir=\/work\/#1'$/m);
  const tmpFile = `${tmp}/script.sh`;
  Deno.writeTextFileSync(tmpFile, script);
  const syntax = new Deno.Command("bash", { args: ["-n", tmpFile], stderr: "piped" }).outputSync();
  assert.equal(syntax.code, 0, dec.decode(syntax.stderr));
});

Deno.test("recordTaskStart(): a requeued Slurm job takes over the class locks of its earlier run, no others", async () => {
  const run = `${tmp}/requeue`;
  const cls = `${run}/models/v/aa`;
  await Deno.mkdir(cls, { recursive: true });
  const lock = { pid: 4_000_000, host: "othernode", started: "t", command: "c" };
  const earlier: TaskStart = {
    task: "v-train-1of2",
    classes: ["aa"],
    host: "othernode",
    pid: 4_000_000,
    started: "t",
    slurm: { job_id: "42", array_task: "41_1", restart_count: 0 },
    log: null,
  };
  await Deno.mkdir(`${run}/launch/tasks`, { recursive: true });
  Deno.writeTextFileSync(`${run}/launch/tasks/v-train-1of2.json`, JSON.stringify(earlier));
  const warnings: string[] = [];
  const saved = Deno.env.get("SLURM_JOB_ID");
  try {
    await t_step("another job's lock stays", async () => {
      Deno.writeTextFileSync(`${cls}/.echoflow.lock`, JSON.stringify(lock));
      Deno.env.set("SLURM_JOB_ID", "43");
      Deno.writeTextFileSync(`${run}/launch/tasks/v-train-1of2.json`, JSON.stringify(earlier));
      await recordTaskStart(run, "v-train-1of2", ["aa"], () => cls, (m) => warnings.push(m));
      assert.ok(Deno.statSync(`${cls}/.echoflow.lock`).isFile);
      assert.deepEqual(warnings, []);
    });
    await t_step("the same job's earlier run's lock is removed, with a warning", async () => {
      Deno.env.set("SLURM_JOB_ID", "42");
      Deno.writeTextFileSync(`${run}/launch/tasks/v-train-1of2.json`, JSON.stringify(earlier));
      Deno.writeTextFileSync(`${run}/launch/tasks/v-train-1of2.exit.json`, `{"exit_code": 137}`);
      const rec = await recordTaskStart(run, "v-train-1of2", ["aa"], () => cls, (m) => warnings.push(m));
      assert.throws(() => Deno.statSync(`${cls}/.echoflow.lock`), Deno.errors.NotFound);
      assert.match(
        warnings.join("\n"),
        /process 4000000 on othernode: an earlier run of this Slurm job \(42/,
      );
      assert.throws(() => Deno.statSync(`${run}/launch/tasks/v-train-1of2.exit.json`), Deno.errors.NotFound);
      assert.equal(rec.slurm?.job_id, "42");
      assert.equal(rec.host, hostName());
    });
    assert.deepEqual(releaseEarlierRun({ ...earlier, pid: 1 }, [cls]), []);
  } finally {
    if (saved === undefined) Deno.env.delete("SLURM_JOB_ID");
    else Deno.env.set("SLURM_JOB_ID", saved);
  }
});

/** Sub-steps of a test body without a TestContext (plain labels in failures). */
async function t_step(label: string, f: () => Promise<void>) {
  try {
    await f();
  } catch (e) {
    throw new Error(`${label}: ${e instanceof Error ? e.message : e}`);
  }
}

Deno.test("runStatus(): finished, running, interrupted and not started classes with their best validation NLL", async () => {
  const run = `${tmp}/crafted`;
  const m = (c: string) => `${run}/models/dyn_esn_flow/${c}`;
  for (const c of ["aa", "iy", "n"]) await Deno.mkdir(m(c), { recursive: true });
  await Deno.mkdir(`${run}/launch`, { recursive: true });
  Deno.writeTextFileSync(`${run}/config.json`, JSON.stringify({ experiment: "esn_flow_timit", config: {} }));
  Deno.writeTextFileSync(
    `${run}/launch/classes_dyn_esn_flow.json`,
    JSON.stringify({ variant: "dyn_esn_flow", classes: ["aa", "iy", "n", "sil"], counts: [] }),
  );
  const metrics = (nlls: number[]) =>
    nlls.flatMap((nll, i) => [
      JSON.stringify({ kind: "epoch", epoch: i + 1 }),
      JSON.stringify({ kind: "eval", split: "val", epoch: i + 1, nll, nll_per_frame: nll / 10 }),
    ]).join("\n") + "\n";
  for (const c of ["aa", "iy", "n"]) {
    Deno.writeTextFileSync(`${m(c)}/config.json`, `{"config": {"epochs": 5}}`);
  }
  Deno.writeTextFileSync(
    `${m("aa")}/summary.json`,
    JSON.stringify({ epochs: 5, val_nll: 12.5, val_nll_per_frame: 1.25 }),
  );
  Deno.writeTextFileSync(`${m("aa")}/best.ckpt`, "x");
  Deno.writeTextFileSync(`${m("iy")}/last.ckpt`, "x");
  Deno.writeTextFileSync(`${m("iy")}/metrics.jsonl`, metrics([30, 20, 25]));
  Deno.writeTextFileSync(
    `${m("iy")}/.echoflow.lock`,
    JSON.stringify({ pid: Deno.pid, host: hostName(), started: "t", command: "c" }),
  );
  Deno.writeTextFileSync(`${m("n")}/last.ckpt`, "x");
  Deno.writeTextFileSync(`${m("n")}/metrics.jsonl`, metrics([40]));
  assert.equal(
    (await runStatus(run)).nll_space,
    null,
    "no norm_stats.json: nothing said about normalisation",
  );
  Deno.writeTextFileSync(`${run}/models/norm_stats.json`, JSON.stringify({ method: "minmax", frameDim: 1 }));
  const s = await runStatus(run);
  assert.equal(s.nll_space, "normalised features (minmax)");
  const by = Object.fromEntries(s.classes.map((c) => [c.class, c]));
  assert.deepEqual(s.classes.map((c) => [c.class, c.state]), [
    ["aa", "finished"],
    ["iy", "running"],
    ["n", "interrupted"],
    ["sil", "not started"],
  ]);
  assert.equal(by.aa.best_val_nll, 12.5);
  assert.deepEqual([by.iy.epoch, by.iy.epochs, by.iy.best_val_nll, by.iy.best_val_nll_per_frame], [
    3,
    5,
    20,
    2,
  ]);
  assert.equal(by.n.epoch, 1);
  assert.equal(s.counts.finished, 1);
  const text = formatStatus(s);
  assert.match(text, /4 classes: 1 finished, 1 running, 1 interrupted, 1 not started/);
  assert.match(text, /dyn_esn_flow +iy +running +3\/5 +20\.000 +2\.000/);
  assert.match(text, /report: none yet/);
  assert.match(text, /NLLs are of the normalised features \(minmax\), in nats/);
  const r = await runScript("lib/launch/status_main.ts", [`${tmp}/nothing_here`]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /No run directory .*nothing_here/);
});

Deno.test({
  name: "--launcher slurm errors: no sbatch on PATH, options echoflow sets, --num_jobs; nothing written",
  sanitizeResources: false,
  async fn(t) {
    await t.step("no sbatch on PATH: exit 2, what to do, no run directory", async () => {
      const out = `${tmp}/nosbatch`;
      const empty = await Deno.makeTempDir({ dir: tmp });
      const r = await cli([...TINY, "--out", out, "--launcher", "slurm"], { env: { PATH: empty } });
      assert.equal(r.code, 2, r.stderr);
      assert.match(
        r.stderr,
        /--launcher slurm: no sbatch on PATH \(.*\)\. Run the command on a machine that can submit/,
      );
      assert.match(r.stderr, /or use --launcher local/);
      await assert.rejects(Deno.stat(out), Deno.errors.NotFound);
    });
    const fake = await fakeSlurm(["node1", "node2"]);
    await t.step("--slurm_args with --array or an unclosed quote, --num_jobs: exit 2", async () => {
      for (
        const [extra, msg] of [
          [["--slurm_args=--array=1-9"], /--array=1-9 is set by echoflow/],
          [["--slurm_args=--comment 'x"], /--slurm_args: unclosed '/],
          [["--num_jobs", "2"], /--num_jobs is the local launcher's/],
        ] as const
      ) {
        const r = await cli([...TINY, "--out", `${tmp}/bad_args`, "--launcher", "slurm", ...extra], {
          env: fake.env,
        });
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, msg);
      }
      assert.equal(fake.calls(), "", "nothing submitted");
    });
  },
});

/**
 * `sbatch`, `sinfo`, `squeue`, `scancel` stand-ins on PATH: sinfo lists `nodes`, sbatch logs its arguments
 * and answers job ids from 100 (or fails for job id `failJob`), scancel logs (and fails with `scancelFails`).
 */
async function fakeSlurm(nodes: string[], opts: { failJob?: number; scancelFails?: boolean } = {}) {
  const dir = await Deno.makeTempDir({ dir: tmp, prefix: "fake_slurm_" });
  const write = (name: string, body: string) =>
    Deno.writeTextFileSync(`${dir}/${name}`, `#!/bin/bash\n${body}\n`, { mode: 0o755 });
  const fail = opts.failJob === undefined
    ? ""
    : `if [ "$n" = ${opts.failJob} ]; then echo "sbatch: error: Batch job submission failed" >&2; exit 1; fi\n`;
  write(
    "sbatch",
    `echo "$*" >> ${dir}/calls\nn=$(cat ${dir}/next 2>/dev/null || echo 100)\n${fail}echo $((n+1)) > ${dir}/next\necho "$n"`,
  );
  write("sinfo", `printf '%s\\n' ${nodes.map(shellQuote).join(" ")}`);
  write("squeue", "exit 0");
  write(
    "scancel",
    `echo "scancel $*" >> ${dir}/calls${
      opts.scancelFails ? '\necho "scancel: error: Access denied" >&2\nexit 1' : ""
    }`,
  );
  return {
    env: { PATH: `${dir}:${Deno.env.get("PATH")}` },
    calls: () => {
      try {
        return Deno.readTextFileSync(`${dir}/calls`);
      } catch {
        return "";
      }
    },
  };
}

Deno.test({
  name:
    "--launcher slurm: refuses an --out local to this machine on a multi-node cluster, saying what it checked",
  sanitizeResources: false,
  async fn() {
    const fake = await fakeSlurm(["node1", "node2"]);
    const out = `${tmp}/not_shared`;
    const r = await cli([...TINY, "--out", out, "--launcher", "slurm"], { env: fake.env });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`the run directory ${out} \\([\\w./-]+\\)`));
    assert.match(
      r.stderr,
      /local to this machine .*, but the jobs run on the nodes node1, node2, which would not see/,
    );
    assert.match(r.stderr, /Checked: each path's file system type \(findmnt\) .* only node \(sinfo\)/);
    assert.match(r.stderr, /--no-slurm_check_shared skips this check/);
    assert.equal(fake.calls(), "", "nothing submitted");
    await assert.rejects(Deno.stat(out), Deno.errors.NotFound);
  },
});

Deno.test({
  name:
    "--launcher slurm submits prepare, a train array and eval with afterok dependencies; a job checks its node",
  sanitizeResources: false,
  async fn(t) {
    const host = bash("hostname -s").stdout.trim();
    const fake = await fakeSlurm([host]);
    const out = `${tmp}/fake_submit`;
    const r = await cli(
      [
        ...TINY,
        "--out",
        out,
        "--launcher",
        "slurm",
        "--slurm_array_limit",
        "2",
        "--slurm_args",
        "-p p1 --mem=1G",
        "--json",
      ],
      { env: fake.env },
    );
    assert.equal(r.code, 0, r.stderr);
    const summary = r.stdout.trim().split("\n").map((l) => JSON.parse(l)).find((l) => l.kind === "summary");
    assert.deepEqual(summary.jobs, { prepare: "100", train: "101", eval: "102" });
    const calls = fake.calls().trim().split("\n");
    const dir = `${out}/launch/slurm-${summary.submission}`;
    assert.deepEqual(calls, [
      `--parsable -p p1 --mem=1G ${dir}/prepare.sh`,
      `--parsable --dependency=afterok:100 --kill-on-invalid-dep=yes -p p1 --mem=1G ${dir}/train.sh`,
      `--parsable --dependency=afterok:101 --kill-on-invalid-dep=yes -p p1 --mem=1G ${dir}/eval.sh`,
    ]);
    assert.match(r.stderr, /prepare job 100: corpus check, features, normalisation statistics/);
    assert.match(
      r.stderr,
      /train +array job 101 \(3 tasks, at most 2 at once\): class trainings, after job 100/,
    );
    assert.match(
      r.stderr,
      new RegExp(`log: ${out}/logs/dyn_esn_flow-train-%aof3\\.log \\(%a: the task, 1\\.\\.3\\)`),
    );
    assert.match(r.stderr, new RegExp(`watch: deno task status ${out}`));
    const train = Deno.readTextFileSync(`${dir}/train.sh`);
    assert.match(train, /^#SBATCH --array=1-3%2$/m);
    assert.match(train, /--stage train/);
    assert.match(train, /--launcher local/);
    assert.doesNotMatch(Deno.readTextFileSync(`${dir}/prepare.sh`), /--array|--shard/);
    assert.equal(JSON.parse(Deno.readTextFileSync(`${out}/config.json`)).config.launcher, "slurm");

    await t.step("a job on a node that does not see the run directory stops, naming what it misses", () => {
      Deno.renameSync(`${dir}/submission.json`, `${dir}/hidden.json`);
      const job = bash(`bash ${shellQuote(`${dir}/prepare.sh`)}`, { SLURM_JOB_ID: "100" });
      Deno.renameSync(`${dir}/hidden.json`, `${dir}/submission.json`);
      assert.equal(job.code, 1, job.stderr);
      assert.match(job.stdout, /=== echoflow prepare: Slurm job 100, restart 0, node /);
      assert.match(
        job.stderr,
        new RegExp(
          `does not see: ${dir}/submission\\.json \\(this submission's record in the run directory\\);`,
        ),
      );
    });
    await t.step(
      "a submission that fails half-way cancels the jobs already in, or says it could not",
      async () => {
        for (const scancelFails of [false, true]) {
          const failing = await fakeSlurm([host], { failJob: 102, scancelFails });
          const r3 = await cli(
            [...TINY, "--out", `${tmp}/fake_half_${scancelFails}`, "--launcher", "slurm"],
            {
              env: failing.env,
            },
          );
          assert.equal(r3.code, 1, r3.stderr);
          assert.match(failing.calls(), /^scancel 100 101$/m);
          assert.match(
            r3.stderr,
            scancelFails
              ? /could not cancel the jobs already submitted \(100, 101\): scancel exited 1: scancel: error: Access denied; cancel them by hand/
              : /cancelled the jobs already submitted \(100, 101\)/,
          );
          if (scancelFails) assert.doesNotMatch(r3.stderr, /warning: cancelled/);
        }
      },
    );
    await t.step("--slurm_array_tasks 2: an array of 2 shards", async () => {
      const out2 = `${tmp}/fake_submit2`;
      const r2 = await cli([...TINY, "--out", out2, "--launcher", "slurm", "--slurm_array_tasks", "2"], {
        env: fake.env,
      });
      assert.equal(r2.code, 0, r2.stderr);
      assert.match(r2.stderr, /training: an array of 2 tasks \(--slurm_array_tasks\)/);
      const sub = [...Deno.readDirSync(`${out2}/launch`)].find((e) => e.name.startsWith("slurm-"))!.name;
      assert.match(Deno.readTextFileSync(`${out2}/launch/${sub}/train.sh`), /^#SBATCH --array=1-2$/m);
    });
  },
});

/** A tiny run into `tmp/name` with `--num_jobs 2`, after `file` (with `content`) was put in class n's folder. */
async function twoJobsWith(name: string, file: string, content: string) {
  const run = `${tmp}/${name}`;
  await Deno.mkdir(`${run}/models/dyn_esn_flow/n`, { recursive: true });
  Deno.writeTextFileSync(`${run}/models/dyn_esn_flow/n/${file}`, content);
  return { run, r: await cli([...TINY, "--out", run, "--num_jobs", "2"]) };
}

Deno.test({
  name:
    "--num_jobs: a class whose lock another host holds is not trained, and the run stops before the report",
  sanitizeResources: false,
  async fn() {
    const holder = { pid: 4242, host: "elsewhere", started: "then", command: "deno task run ..." };
    const { run, r } = await twoJobsWith("held_elsewhere", ".echoflow.lock", JSON.stringify(holder));
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /\[dyn_esn_flow 3\/3: n\] taken by another job; next class \(.*process 4242 on elsewhere/,
    );
    assert.match(
      r.stderr,
      /1 classes were not trained: n \(locked by process 4242 on elsewhere since then\)\. .*run the same command again/,
    );
    assert.throws(
      () => Deno.statSync(`${run}/report.json`),
      Deno.errors.NotFound,
      "no report on fewer classes",
    );
  },
});

Deno.test("--claim refuses --shard, --retrain and --launcher slurm (exit 2, nothing written)", async () => {
  for (
    const [extra, re] of [
      [["--shard", "1/2"], /--claim takes classes as they come; --shard fixes them: not both/],
      [["--retrain"], /--claim with --retrain could delete a class another process is training/],
      [["--launcher", "slurm"], /--claim is for the local launcher's jobs and runs by hand/],
    ] as const
  ) {
    const out = `${tmp}/claim_bad_${extra[0].slice(2)}`;
    const r = await cli([...TINY, "--out", out, "--claim", ...extra]);
    assert.equal(r.code, 2, `${extra.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.throws(() => Deno.statSync(out), Deno.errors.NotFound);
  }
});

Deno.test({
  name:
    "a local run whose training child fails: exit 1, and the status names the failed class, exit code and log",
  sanitizeResources: false,
  async fn() {
    // A corrupt last.ckpt: the class's resume fails in its child process.
    const { run, r } = await twoJobsWith("local_fail", "last.ckpt", "not a checkpoint");
    assert.equal(r.code, 1, r.stderr);
    // The jobs claim classes as they go: whichever took n failed, alone (the other left n to it).
    const failedJob = /Parallel training failed: job ([12])\/2 exited with code 1 \(see/.exec(r.stderr);
    assert.ok(failedJob, r.stderr);
    const task = `dyn_esn_flow-train-${failedJob[1]}of2`;
    assert.match(r.stderr, new RegExp(`logs: .*${task}\\.log`));
    // The other job reached n after the failure (left alone) or, rarely, while it was happening (taken).
    assert.match(
      r.stderr,
      /\[dyn_esn_flow 3\/3: n\] (failed in process \d+ of this launch .*; left alone|taken by another job)/,
    );
    const st = await runScript("lib/launch/status_main.ts", [run, "--json"]);
    assert.equal(st.code, 0, st.stderr);
    const rows = st.stdout.trim().split("\n").map((l) => JSON.parse(l));
    const classes = rows.filter((x) => x.kind === "class");
    assert.deepEqual(classes.map((c) => [c.class, c.state]), [["m", "finished"], ["n", "failed"], [
      "sil",
      "finished",
    ]]);
    const n = classes[1];
    assert.equal(n.exit_code, 1);
    assert.equal(n.log, `${run}/logs/${task}.log`);
    assert.match(Deno.readTextFileSync(n.log), /error: Cannot load checkpoint .*last\.ckpt/);
    assert.deepEqual([rows.at(-1).finished, rows.at(-1).failed], [2, 1]);
    const human = await runScript("lib/launch/status_main.ts", [run]);
    assert.match(
      human.stdout,
      new RegExp(
        `FAILED: dyn_esn_flow class n: task ${task} exited with code 1 on .* \\(Cannot load ` +
          `checkpoint "${run}/models/dyn_esn_flow/n/last\\.ckpt": .*\\); log: ${run}/logs/` +
          `${task}\\.log\\. Run the same command again`,
      ),
    );
  },
});
