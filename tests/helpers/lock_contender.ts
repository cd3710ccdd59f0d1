/**
 * One contender of `tests/run_lock_race_test.ts`: waits until the wall-clock time `startAt` (ms), so that
 * all contenders try at the same moment, then tries to take the lock of `dir`, holds it `holdMs` and
 * releases it. Appends `<pid> start <t>` and `<pid> end <t>`, or `<pid> refused`, to `out`.
 *
 *   deno run -A tests/helpers/lock_contender.ts DIR OUT START_AT HOLD_MS
 */
import { acquireRunLock, RunLockError } from "../../lib/runner/run_lock.ts";

const [dir, out, startAt, holdMs] = Deno.args;
const note = (s: string) => Deno.writeTextFileSync(out, `${Deno.pid} ${s}\n`, { append: true });
while (Date.now() < Number(startAt)) { /* spin: start together */ }
try {
  const lock = acquireRunLock(dir);
  note(`start ${performance.timeOrigin + performance.now()}`);
  const until = Date.now() + Number(holdMs);
  while (Date.now() < until) await new Promise((r) => setTimeout(r, 5));
  note(`end ${performance.timeOrigin + performance.now()}`);
  lock.release();
} catch (e) {
  if (!(e instanceof RunLockError)) throw e;
  note("refused");
}
