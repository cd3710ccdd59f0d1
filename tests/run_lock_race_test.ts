/**
 * Processes that find the same stale lock at the same moment: exactly one of them takes the run directory
 * (`run_lock.ts`: one process at a time breaks a stale lock). Before that rule, two of them could each
 * remove the lock the other had just made and both hold the directory.
 */
import assert from "node:assert/strict";
import { acquireRunLock, hostName, LOCK_FILE } from "../lib/runner/run_lock.ts";

const CONTENDER = new URL("./helpers/lock_contender.ts", import.meta.url).pathname;

Deno.test({
  name:
    "contenders that all find a stale lock at once: one holds the directory at a time, the others refused",
  sanitizeResources: false,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "lock_race_" });
    try {
      for (let round = 0; round < 3; round++) {
        const dir = `${root}/run${round}`, out = `${root}/events${round}`;
        Deno.mkdirSync(dir);
        Deno.writeTextFileSync(out, "");
        // A lock of a process that is gone (pid beyond the kernel's maximum).
        Deno.writeTextFileSync(
          `${dir}/${LOCK_FILE}`,
          JSON.stringify({ pid: 2147483646, host: hostName(), started: "then", command: "killed" }),
        );
        const startAt = Date.now() + 2500; // after every contender has started
        const procs = Array.from({ length: 4 }, () =>
          new Deno.Command(Deno.execPath(), {
            args: ["run", "-A", CONTENDER, dir, out, String(startAt), "400"],
            stdout: "null",
            stderr: "piped",
          }).output());
        for (const p of await Promise.all(procs)) {
          assert.ok(p.success, new TextDecoder().decode(p.stderr));
        }
        const events = Deno.readTextFileSync(out).trim().split("\n").map((l) => l.split(" "));
        const starts = events.filter((e) => e[1] === "start").map((e) => [e[0], Number(e[2])] as const);
        const ends = new Map(events.filter((e) => e[1] === "end").map((e) => [e[0], Number(e[2])]));
        assert.ok(
          starts.length >= 1,
          `round ${round}: nobody took the stale lock: ${JSON.stringify(events)}`,
        );
        assert.equal(starts.length + events.filter((e) => e[1] === "refused").length, 4);
        // Holding intervals never overlap.
        const spans = starts.map(([pid, t]) => [t, ends.get(pid)!]).sort((a, b) => a[0] - b[0]);
        for (let i = 1; i < spans.length; i++) {
          assert.ok(
            spans[i][0] >= spans[i - 1][1],
            `round ${round}: two holders at once: ${JSON.stringify(spans)}`,
          );
        }
        assert.throws(
          () => Deno.statSync(`${dir}/${LOCK_FILE}`),
          Deno.errors.NotFound,
          "the last holder released it",
        );
      }
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test("an unreadable lock is broken only once it is old; an abandoned breaker file does not block", () => {
  const dir = Deno.makeTempDirSync({ prefix: "lock_abandoned_" });
  const lock = `${dir}/${LOCK_FILE}`;
  const past = new Date(Date.now() - 60_000);
  try {
    // An empty lock file (a writer that died between creating and writing it), a minute old: broken.
    Deno.writeTextFileSync(lock, "");
    Deno.utimeSync(lock, past, past);
    const warnings: string[] = [];
    acquireRunLock(dir, (w) => warnings.push(w)).release();
    assert.match(warnings.join("\n"), /removed the unreadable lock file/);

    // A dead holder's lock, and the breaker file of another host's process that died a minute ago while
    // breaking it: the breaker is abandoned, the lock taken.
    const dead = { pid: 2147483646, host: hostName(), started: "then", command: "killed" };
    Deno.writeTextFileSync(lock, JSON.stringify(dead));
    Deno.writeTextFileSync(`${lock}.break`, JSON.stringify({ ...dead, host: "elsewhere" }));
    Deno.utimeSync(`${lock}.break`, past, past);
    const t0 = Date.now();
    const held = acquireRunLock(dir);
    assert.ok(Date.now() - t0 < 5000, "taken without waiting for a timeout");
    assert.equal(JSON.parse(Deno.readTextFileSync(lock)).pid, Deno.pid);
    assert.throws(() => Deno.statSync(`${lock}.break`), Deno.errors.NotFound);
    held.release();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a lock held by this process is refused to a second taker of this process, even in the same ms", () => {
  const dir = Deno.makeTempDirSync({ prefix: "lock_same_ms_" });
  try {
    for (let i = 0; i < 50; i++) {
      const first = acquireRunLock(dir);
      assert.throws(() => acquireRunLock(dir), /in use by process/);
      first.release();
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
