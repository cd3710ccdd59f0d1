/**
 * Run directories that nothing corrupts: one writer at a time, no silent reuse of an `--out`, resumes
 * checked before they change anything, no leftovers of writers that died, no half-made directories.
 */
import assert from "node:assert/strict";
import {
  acquireRunLock,
  hostName,
  LOCK_FILE,
  processAlive,
  removeStaleTemporaries,
} from "../lib/runner/run_lock.ts";
import { runCli as cli, spawnCli } from "./helpers/cli.ts";

const tmp = await Deno.makeTempDir({ prefix: "run_safety_test_" });
globalThis.addEventListener("unload", () => Deno.removeSync(tmp, { recursive: true }));
const MOONS = ["--name", "realnvp_moons", "--backend", "wasm", "--n_train", "200", "--n_val", "100"];
const SIZES: Record<string, string> = { n_test: "100", hidden: "8", epochs: "2", n_samples: "10" };
/** A small realnvp_moons run; `extra` keys replace the small sizes. */
const small = (...extra: string[]) => [
  ...MOONS,
  ...Object.entries(SIZES).filter(([k]) => !extra.includes(`--${k}`)).flatMap(([k, v]) => [`--${k}`, v]),
  ...extra,
];
const bytesOf = async (dir: string) => {
  const out: Record<string, string> = {};
  for (const e of Deno.readDirSync(dir)) {
    if (e.isFile) {
      out[e.name] = String(
        await crypto.subtle.digest("SHA-256", await Deno.readFile(`${dir}/${e.name}`)).then((d) =>
          new Uint8Array(d).join(",")
        ),
      );
    }
  }
  return out;
};

Deno.test("acquireRunLock(): one holder; a dead holder's lock is stale and taken; another host's is not", () => {
  const dir = `${tmp}/lock`;
  Deno.mkdirSync(dir);
  const lock = acquireRunLock(dir);
  assert.throws(
    () => acquireRunLock(dir),
    new RegExp(`in use by process ${Deno.pid} on .* delete ${dir}/${LOCK_FILE}`),
  );
  lock.release();
  assert.throws(() => Deno.statSync(`${dir}/${LOCK_FILE}`), Deno.errors.NotFound);
  const holder = { pid: 2147483646, host: hostName(), started: "then", command: "deno run main.ts" };
  assert.equal(processAlive(holder.pid), false);
  Deno.writeTextFileSync(`${dir}/${LOCK_FILE}`, JSON.stringify(holder));
  const warnings: string[] = [];
  acquireRunLock(dir, (w) => warnings.push(w)).release();
  assert.match(warnings[0], /removed the stale lock of process 2147483646 \(since then\), which is gone/);
  Deno.writeTextFileSync(`${dir}/${LOCK_FILE}`, JSON.stringify({ ...holder, host: "elsewhere" }));
  assert.throws(() => acquireRunLock(dir), /in use by process 2147483646 on elsewhere/);
});

Deno.test("removeStaleTemporaries() removes only what dead writers left", () => {
  const dir = `${tmp}/temps`;
  Deno.mkdirSync(dir);
  for (
    const f of [".last.ckpt.tmp-2147483646-0a1b2c3d", `.last.ckpt.tmp-${Deno.pid}-0a1b2c3d`, "notes.tmp"]
  ) {
    Deno.writeTextFileSync(`${dir}/${f}`, "x");
  }
  assert.deepEqual(removeStaleTemporaries(dir), [".last.ckpt.tmp-2147483646-0a1b2c3d"]);
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
    `.last.ckpt.tmp-${Deno.pid}-0a1b2c3d`,
    "notes.tmp",
  ]);
});

Deno.test({
  name: "a second process on a running run directory is refused, naming the first",
  sanitizeResources: false,
  async fn() {
    const run = `${tmp}/busy`;
    const first = spawnCli([...MOONS, "--epochs", "500", "--out", run, "--quiet"]);
    try {
      while (!(await Deno.stat(`${run}/last.ckpt`).then(() => true).catch(() => false))) {
        await new Promise((r) => setTimeout(r, 100));
      }
      const second = await cli([...MOONS, "--resume", run]);
      assert.equal(second.code, 1, second.stderr);
      assert.match(second.stderr, new RegExp(`Run directory "${run}" is in use by process ${first.pid} on `));
    } finally {
      first.kill("SIGKILL");
      await first.status;
    }
    // Killed: its lock is stale, and a resume takes it (and continues from the last epoch it saved).
    const again = await cli([...MOONS, "--resume", run, "--epochs", "1", "--n_samples", "10"]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /removed the stale lock of process \d+/);
  },
});

Deno.test({
  name: "--out onto a run is refused with how to resume or start over; --overwrite starts over",
  sanitizeResources: false,
  async fn() {
    const run = `${tmp}/twice`;
    assert.equal((await cli(small("--out", run))).code, 0);
    const before = await bytesOf(run);
    const again = await cli(small("--out", run));
    assert.equal(again.code, 2, again.stderr);
    assert.match(
      again.stderr,
      new RegExp(
        `"${run}" already holds a run \\(config\\.json, metrics\\.jsonl, summary\\.json, last\\.ckpt, best\\.ckpt\\): continue it with --resume ${run}, or start over with --out ${run} --overwrite`,
      ),
    );
    assert.deepEqual(await bytesOf(run), before, "nothing changed");
    const over = await cli(small("--out", run, "--overwrite", "--epochs", "1", "--json"));
    assert.equal(over.code, 0, over.stderr);
    const epochs = (await Deno.readTextFile(`${run}/metrics.jsonl`)).trim().split("\n").map((l) =>
      JSON.parse(l)
    )
      .filter((r) => r.kind === "epoch").map((r) => r.epoch);
    assert.deepEqual(epochs, [1], "the old run's records are gone, not mixed with the new ones");
  },
});

Deno.test({
  name: "a resume whose last.ckpt does not belong to the run is refused before anything changes",
  sanitizeResources: false,
  async fn() {
    const run = `${tmp}/mine`, other = `${tmp}/wider`, stranger = `${tmp}/gauss`;
    assert.equal((await cli(small("--out", run))).code, 0);
    assert.equal((await cli(small("--hidden", "16", "--out", other))).code, 0);
    assert.equal(
      (await cli(["--name", "gaussian_2d", "--backend", "wasm", "--epochs", "1", "--out", stranger])).code,
      0,
    );
    const before = await bytesOf(run);
    await Deno.copyFile(`${run}/last.ckpt`, `${tmp}/mine_last.ckpt`);
    await Deno.copyFile(`${other}/last.ckpt`, `${run}/last.ckpt`);
    const wider = { ...before, "last.ckpt": (await bytesOf(run))["last.ckpt"] };
    const r1 = await cli(["--resume", run, "--epochs", "3"]);
    assert.equal(r1.code, 1, r1.stderr);
    assert.match(r1.stderr, new RegExp(`${run}/last\\.ckpt.*(shape|size).*`));
    assert.deepEqual(await bytesOf(run), wider, "metrics, config and summary untouched");
    await Deno.copyFile(`${stranger}/last.ckpt`, `${run}/last.ckpt`);
    const r2 = await cli(["--resume", run, "--epochs", "3"]);
    assert.equal(r2.code, 1, r2.stderr);
    assert.match(
      r2.stderr,
      /last\.ckpt is a checkpoint of "gaussian_2d", but the run's config\.json is of "realnvp_moons"/,
    );
    // With its own checkpoint back, the resume goes through, and a killed checkpoint write's leftover goes.
    await Deno.copyFile(`${tmp}/mine_last.ckpt`, `${run}/last.ckpt`);
    await Deno.writeTextFile(`${run}/.last.ckpt.tmp-2147483646-0a1b2c3d`, "partial");
    const ok = await cli(["--resume", run, "--epochs", "3"]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stderr, /removed .*\.last\.ckpt\.tmp-2147483646-0a1b2c3d, left by a writer that died/);
  },
});

Deno.test({
  name: "a run that fails before its first epoch leaves no directory; errors name the key and the memory",
  sanitizeResources: false,
  async fn() {
    const run = `${tmp}/huge`;
    const r = await cli([
      "--name",
      "esn_flow_synthetic",
      "--backend",
      "wasm",
      "--esn_dim",
      "2000000000",
      "--out",
      run,
    ]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /--esn_dim 2000000000: the model .* needs about [\d.]+ GiB for its largest arrays/,
    );
    await assert.rejects(Deno.stat(run), Deno.errors.NotFound);
  },
});
