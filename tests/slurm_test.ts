/**
 * `esn_flow_timit --launcher slurm` on a real single-node Slurm cluster started on this machine
 * (`helpers/slurm_cluster.ts`: Debian's slurm-wlm and munge, installed when missing), on a small stand-in
 * corpus with tiny models (3 classes, 8 epochs), against a local run with the same seed:
 *
 * 1. a submission runs to the end and its report equals the local run's, though one training task was
 *    stopped in the middle of a class and requeued (`scontrol requeue`): it resumed from last.ckpt;
 * 2. a submission whose training task is killed (SIGKILL) in the middle of a class: the task fails, the
 *    evaluation never starts, the status command names the failed class and its log; submitting again
 *    skips the finished classes, resumes the killed one, and the report equals the local run's.
 *
 * Needs root (and apt-get when Slurm is missing); elsewhere it is ignored, saying why. CI sets
 * ECHOFLOW_REQUIRE_SLURM_TEST=1, which makes a missing prerequisite a failure instead.
 */
import assert from "node:assert/strict";
import { runCli as cli, runScript } from "./helpers/cli.ts";
import { jsonSummary, tinyStandIn } from "./helpers/timit_fixture.ts";
import { type SlurmCluster, slurmSkipReason, startSlurmCluster } from "./helpers/slurm_cluster.ts";

const required = Deno.env.get("ECHOFLOW_REQUIRE_SLURM_TEST") === "1";
const skip = required ? null : slurmSkipReason();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const exists = (p: string) => {
  try {
    Deno.statSync(p);
    return true;
  } catch {
    return false;
  }
};
const readJson = (p: string) => JSON.parse(Deno.readTextFileSync(p));

/** Polls `f` every `ms` until it returns a value (not undefined); fails after `timeoutS` saying `what`. */
async function waitFor<T>(
  what: string,
  f: () => T | undefined | Promise<T | undefined>,
  timeoutS = 180,
  ms = 20,
) {
  const t0 = performance.now();
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (performance.now() - t0 > timeoutS * 1000) {
      throw new Error(`timed out after ${timeoutS} s waiting for ${what}`);
    }
    await sleep(ms);
  }
}

Deno.test({
  name: `--launcher slurm on a single-node Slurm cluster: report equal to a local run, requeue and failure${
    skip ? ` (ignored: ${skip})` : ""
  }`,
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const t0 = performance.now();
    const say = (s: string) =>
      console.error(`  [slurm test ${((performance.now() - t0) / 1000).toFixed(1)} s] ${s}`);
    const { tmp, args } = await tinyStandIn("echoflow_slurm_test_");
    const TINY = args(
      "--classes",
      "3",
      "--epochs",
      "8",
      "--sample_classes",
      "1",
      "--n_samples",
      "2",
      "--seed",
      "3",
    );
    const local = `${tmp}/local`;
    const r0 = await cli([...TINY, "--out", local]);
    assert.equal(r0.code, 0, r0.stderr);
    const expected = readJson(`${local}/report.json`).variants;
    say("local reference run done");

    const cluster: SlurmCluster = await startSlurmCluster(say);
    const env = cluster.env;
    // The Slurm runs compute their own features, so the test sees which process writes them.
    const slurmArgs = (out: string, cache: string) => [
      ...TINY.filter((_, i) => TINY[i - 1] !== "--feature_cache_dir" && TINY[i] !== "--feature_cache_dir"),
      "--feature_cache_dir",
      cache,
      "--out",
      out,
      "--launcher",
      "slurm",
      "--slurm_array_limit",
      "2",
      "--json",
    ];
    const submit = async (out: string, cache: string) => {
      const r = await cli(slurmArgs(out, cache), { env });
      assert.equal(r.code, 0, r.stderr);
      const s = jsonSummary(r.stdout);
      const jobs = s.jobs as Record<string, string>;
      assert.ok(jobs.prepare && jobs.train && jobs.eval, JSON.stringify(s));
      assert.match(r.stderr, new RegExp(`prepare job ${jobs.prepare}: corpus check`));
      assert.match(r.stderr, new RegExp(`train +array job ${jobs.train} \\(3 tasks, at most 2 at once\\)`));
      assert.match(r.stderr, new RegExp(`eval +job ${jobs.eval}: .*after job ${jobs.train} succeeded`));
      assert.match(r.stderr, new RegExp(`log: ${out}/logs/dyn_esn_flow-train-%aof3\\.log`));
      return { jobs, stderr: r.stderr };
    };
    /** The states of a job's tasks once none is queued or running. */
    const finalStates = (job: string) =>
      waitFor(
        `Slurm job ${job} to end`,
        async () => {
          const q = await cluster.cmd("squeue", ["-h", "--states=all", "-r", "-j", job, "-o", "%i %T %r"]);
          const rows = q.stdout.trim().split("\n").filter((l) => l !== "").map((l) => l.split(" "));
          const active = ["PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "SUSPENDED"];
          if (q.code !== 0 || rows.length === 0 || rows.some((r) => active.includes(r[1]))) return undefined;
          return rows;
        },
        300,
        250,
      );
    /** A class in the middle of its training: its last.ckpt written, no summary yet; and its process. */
    const midTraining = (out: string) =>
      waitFor(`a class in the middle of training in ${out}`, () => {
        for (const cls of expected[0].classes as string[]) {
          const dir = `${out}/models/dyn_esn_flow/${cls}`;
          if (
            !exists(`${dir}/last.ckpt`) || exists(`${dir}/summary.json`) || !exists(`${dir}/.echoflow.lock`)
          ) continue;
          try {
            const epochs = Deno.readTextFileSync(`${dir}/metrics.jsonl`).split("\n").filter((l) =>
              l.includes('"kind":"epoch"')
            );
            if (epochs.length >= 8) continue; // its last epoch is done: not in the middle
            return { cls, dir, pid: readJson(`${dir}/.echoflow.lock`).pid as number };
          } catch {
            continue; // the lock is being replaced
          }
        }
        return undefined;
      });
    /** The Slurm array task that trains `cls` (its start record). */
    const taskOf = (out: string, cls: string) => {
      for (const e of Deno.readDirSync(`${out}/launch/tasks`)) {
        if (!e.name.endsWith(".json") || e.name.endsWith(".exit.json")) continue;
        const rec = readJson(`${out}/launch/tasks/${e.name}`);
        if (rec.classes.includes(cls)) {
          return rec as { task: string; slurm: { array_task: string }; log: string };
        }
      }
      throw new Error(`no task record names ${cls}`);
    };
    const status = async (out: string) => {
      const r = await runScript("lib/launch/status_main.ts", [out, "--json"], { env });
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.trim().split("\n").map((l) => JSON.parse(l));
    };
    const failMsg = (out: string) => {
      let logs = "";
      try {
        for (const e of Deno.readDirSync(`${out}/logs`)) {
          logs += `--- ${e.name}\n${Deno.readTextFileSync(`${out}/logs/${e.name}`).slice(-3000)}\n`;
        }
      } catch {
        // no logs
      }
      return `${logs}\n${cluster.logs()}`;
    };

    try {
      await t.step(
        "a submission with a task stopped mid-class and requeued gives the local run's report",
        async () => {
          const out = `${tmp}/slurm_requeue`, cache = `${tmp}/cache_slurm`;
          const { jobs } = await submit(out, cache);
          say(`submitted ${JSON.stringify(jobs)}`);
          const mid = await midTraining(out);
          // Frozen between two epochs' checkpoints, so the requeue surely lands in the middle of the class.
          Deno.kill(mid.pid, "SIGSTOP");
          assert.ok(!exists(`${mid.dir}/summary.json`), `${mid.cls} finished before it was stopped`);
          const task = taskOf(out, mid.cls);
          say(`stopped ${mid.cls} (pid ${mid.pid}, task ${task.slurm.array_task}); requeueing it`);
          const rq = await cluster.cmd("scontrol", ["requeue", task.slurm.array_task]);
          assert.equal(rq.code, 0, rq.stderr);
          // Slurm holds a requeued job back for a while (BeginTime); let it start again now.
          await waitFor(
            "the requeued task to be pending",
            async () => {
              const q = await cluster.cmd("squeue", ["-h", "-r", "-j", task.slurm.array_task, "-o", "%T"]);
              if (q.stdout.trim() !== "PENDING") return undefined;
              const u = await cluster.cmd("scontrol", [
                "update",
                `JobId=${task.slurm.array_task}`,
                "StartTime=now",
              ]);
              assert.equal(u.code, 0, u.stderr);
              return true;
            },
            60,
            100,
          );
          const states = [
            await finalStates(jobs.prepare),
            await finalStates(jobs.train),
            await finalStates(jobs.eval),
          ];
          assert.ok(
            states.flat().every((r) => r[1] === "COMPLETED"),
            `${JSON.stringify(states)}\n${failMsg(out)}`,
          );
          say("requeue run done");
          const log = Deno.readTextFileSync(task.log);
          assert.match(
            log,
            /restart 0,[\s\S]*restart 1,/,
            "the task ran twice, the second time as a requeue",
          );
          assert.match(log, new RegExp(`\\b${mid.cls}\\] resuming from last\\.ckpt`));
          assert.deepEqual(readJson(`${out}/report.json`).variants, expected);
          // Features and statistics were written by the preparation only: before any training task started.
          const firstTrain = Math.min(
            ...[...Deno.readDirSync(`${out}/launch/tasks`)].filter((e) => !e.name.endsWith(".exit.json"))
              .map((e) => Date.parse(readJson(`${out}/launch/tasks/${e.name}`).started)),
          );
          const written = [
            `${out}/models/norm_stats.json`,
            ...[...Deno.readDirSync(cache)].map((e) => `${cache}/${e.name}`),
          ];
          assert.ok(written.length >= 4, written.join(", "));
          for (const f of written) {
            assert.doesNotMatch(f, /\.tmp-/);
            assert.ok(Deno.statSync(f).mtime!.getTime() <= firstTrain, `${f} written after training started`);
          }
          const st = await status(out);
          const classes = st.filter((r) => r.kind === "class");
          assert.deepEqual(classes.map((c) => c.state), ["finished", "finished", "finished"]);
          for (const c of classes) {
            assert.equal(c.epoch, 8);
            assert.ok(Number.isFinite(c.best_val_nll), JSON.stringify(c));
            assert.match(c.log, new RegExp(`^${out}/logs/dyn_esn_flow-train-[123]of3\\.log$`));
          }
          assert.equal(st.at(-1).finished, 3);
        },
      );

      await t.step(
        "a task killed mid-class fails: no evaluation, the status names the class and its log; a resubmission " +
          "resumes it and gives the local run's report",
        async () => {
          const out = `${tmp}/slurm_fail`, cache = `${tmp}/cache_slurm`;
          const { jobs } = await submit(out, cache);
          const again = await cli(slurmArgs(out, cache), { env });
          assert.equal(again.code, 2, again.stderr);
          assert.match(again.stderr, /is still queued or running \(.*\): watch it with deno task status/);
          const mid = await midTraining(out);
          Deno.kill(mid.pid, "SIGKILL");
          const task = taskOf(out, mid.cls);
          say(`killed ${mid.cls} (pid ${mid.pid}, task ${task.slurm.array_task})`);
          const train = await finalStates(jobs.train);
          const ev = await finalStates(jobs.eval);
          assert.deepEqual(
            train.filter((r) => r[1] !== "COMPLETED").map((r) => [r[0], r[1]]),
            [[task.slurm.array_task, "FAILED"]],
            failMsg(out),
          );
          assert.deepEqual(ev.map((r) => r[1]), ["CANCELLED"], "the evaluation never ran");
          assert.ok(!exists(`${out}/report.json`));
          assert.ok(!exists(`${out}/logs/dyn_esn_flow-eval.log`), "the evaluation job never started");
          const st = await status(out);
          const failed = st.filter((r) => r.kind === "class" && r.state === "failed");
          assert.deepEqual(failed.map((c) => c.class), [mid.cls]);
          assert.equal(failed[0].exit_code, 137);
          assert.equal(failed[0].log, task.log);
          assert.match(Deno.readTextFileSync(task.log), /failed with exit code 137/);
          assert.deepEqual(st.filter((r) => r.kind === "class" && r.state === "finished").length, 2);
          const human = await runScript("lib/launch/status_main.ts", [out], { env });
          assert.match(
            human.stdout,
            new RegExp(
              `FAILED: dyn_esn_flow class ${mid.cls}: task .* exited with code 137 .*; log: ${task.log}`,
            ),
          );
          assert.match(human.stdout, /eval \d+: CANCELLED \[DependencyNeverSatisfied\]/);
          say("failure seen; resubmitting");

          const re = await submit(out, cache);
          for (const j of [re.jobs.prepare, re.jobs.train, re.jobs.eval]) {
            const s = await finalStates(j);
            assert.ok(s.every((r) => r[1] === "COMPLETED"), `${JSON.stringify(s)}\n${failMsg(out)}`);
          }
          const log = Deno.readTextFileSync(task.log);
          assert.match(log, new RegExp(`\\b${mid.cls}\\] resuming from last\\.ckpt`));
          const skipped = (expected[0].classes as string[]).filter((c) => c !== mid.cls);
          for (const c of skipped) {
            assert.match(
              Deno.readTextFileSync(taskOf(out, c).log),
              new RegExp(`${c}\\] already trained in .*; skipped`),
            );
          }
          assert.deepEqual(readJson(`${out}/report.json`).variants, expected);
          const after = await status(out);
          assert.equal(after.at(-1).finished, 3);
          assert.equal(after.at(-1).failed, 0);
          say("resubmission done");
        },
      );
    } finally {
      await cluster.stop();
      say("cluster stopped");
    }
  },
});
