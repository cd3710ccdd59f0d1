import assert from "node:assert/strict";
import { duration, TrainingProgress } from "../lib/classify/train_progress.ts";
import { watchClaimedClasses } from "../lib/launch/claim_progress.ts";
import { Logger } from "../lib/runner/logger.ts";

Deno.test("TrainingProgress counts frames x epochs across classes and drops what early stopping saves", () => {
  const lines: string[] = [];
  const log = new Logger({ err: (s) => lines.push(s.trim()), tty: false });
  const p = new TrainingProgress(log, ["a", "b", "c"], (c) => ({ a: 100, b: 300, c: 600 })[c]!, 10, 0);
  p.finish("a", true); // skipped: its work leaves the total, and it prints no line
  assert.equal(lines.length, 0);
  p.epoch("b", 1);
  assert.match(lines.at(-1)!, /1\/3 classes finished, 3% of the work/, "300 of 9000 frame-epochs");
  assert.ok(p.secondsLeft! > 0);
  p.epoch("b", 4); // 3 more epochs
  p.finish("b"); // stopped early after epoch 4: its last 6 epochs are not left to do
  assert.match(lines.at(-1)!, /2\/3 classes finished, 33% of the work, .* about .* to go at most/);
  for (let e = 1; e <= 10; e++) p.epoch("c", e);
  p.finish("c");
  assert.match(lines.at(-1)!, /3\/3 classes finished, 100% of the work, \d+ s elapsed$/);
  assert.equal(p.secondsLeft, 0);
});

Deno.test("duration() reads as seconds, minutes, or hours and minutes", () => {
  assert.deepEqual([duration(42.4), duration(600), duration(7500)], ["42 s", "10 min", "2 h 05 min"]);
});

Deno.test("TrainingProgress.resumedAt(): epochs trained before watching leave the total, not count as work", () => {
  const lines: string[] = [];
  const log = new Logger({ err: (s) => lines.push(s.trim()), tty: false });
  const p = new TrainingProgress(log, ["a", "b"], () => 100, 10, 0);
  p.resumedAt("a", 6); // 600 frame-epochs done by an earlier process: 1,400 left of what is to do here
  assert.equal(p.secondsLeft, null, "no work done by this process yet");
  p.epoch("a", 7);
  assert.match(lines.at(-1)!, /0\/2 classes finished, 7% of the work/, "100 of 1,400 frame-epochs");
  p.epoch("b", 1);
  assert.match(lines.at(-1)!, /14% of the work/);
});

Deno.test("watchClaimedClasses() follows class folders other processes train, to a final line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "claim_watch_" });
  const lines: string[] = [];
  const log = new Logger({ err: (s) => lines.push(s.trim()), tty: false });
  const metrics = (n: number) =>
    Array.from({ length: n }, (_, i) => JSON.stringify({ kind: "epoch", epoch: i + 1 })).join("\n") + "\n";
  try {
    for (const c of ["a", "b"]) await Deno.mkdir(`${dir}/${c}`);
    Deno.writeTextFileSync(`${dir}/a/metrics.jsonl`, metrics(2)); // resumed: 2 epochs before the watch
    const stop = watchClaimedClasses({
      log,
      classes: ["a", "b"],
      frames: () => 100,
      epochs: 4,
      classDir: (c) => `${dir}/${c}`,
      everySeconds: 3600,
    });
    Deno.writeTextFileSync(`${dir}/a/metrics.jsonl`, metrics(4));
    for (const f of ["best.ckpt", "last.ckpt", "summary.json"]) Deno.writeTextFileSync(`${dir}/a/${f}`, "{}");
    Deno.writeTextFileSync(`${dir}/b/metrics.jsonl`, metrics(1));
    assert.equal(lines.length, 0, "nothing finished or printed yet");
    stop(); // the last look: a finished (a line: a's last 2 epochs done of the 6 left to do), b at epoch 1
    assert.equal(lines.length, 1);
    assert.match(lines[0], /1\/2 classes finished, 33% of the work/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
