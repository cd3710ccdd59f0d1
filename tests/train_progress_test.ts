import assert from "node:assert/strict";
import { duration, TrainingProgress } from "../lib/classify/train_progress.ts";
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
