/**
 * One writer per run directory, and no leftovers from writers that died.
 *
 * {@link acquireRunLock} creates `<dir>/.echoflow.lock` exclusively, with its content (a hard link of a
 * written temporary: atomic on local and NFS file systems), holding the writer's process id, host, start
 * time and command. A second writer is refused with an error naming the holder. A lock whose holder is gone
 * (same host, no such process: a run killed with SIGKILL, a crash) is stale: it is removed, with a warning,
 * and taken; one process at a time breaks a stale lock (`<lock>.break`), so two that find it at once never
 * both take it. A lock of another host is never judged stale (its process cannot be seen from here); the
 * error says how to remove it.
 *
 * {@link removeStaleTemporaries} deletes the temporary files of atomic writes (`*.tmp-<pid>-*`, see
 * `run_dir.ts`) whose writer is gone: what a kill during a checkpoint or cache write leaves behind.
 *
 * Whether a process lives is asked of the shell (`kill -0`), as Deno lets only `--allow-all` read `/proc`;
 * where that cannot run, every process counts as alive (a lock is never broken on a guess).
 */

/** The lock file's name inside a run directory. */
export const LOCK_FILE = ".echoflow.lock";

/** Who holds a lock. */
export interface LockHolder {
  readonly pid: number;
  readonly host: string;
  readonly started: string;
  readonly command: string;
}

/** Another live writer holds the run directory. */
export class RunLockError extends Error {
  override name = "RunLockError";
}

/** Whether process `pid` of this host exists: true, false, or null when it cannot be told. */
export function processAlive(pid: number): boolean | null {
  if (pid === Deno.pid) return true;
  try {
    // LC_ALL=C: the message is matched in English, whatever the locale of the shell.
    const out = new Deno.Command("sh", {
      args: ["-c", `kill -0 ${pid}`],
      env: { LC_ALL: "C" },
      stdout: "null",
      stderr: "piped",
    }).outputSync();
    if (out.success) return true;
    return /no such process/i.test(new TextDecoder().decode(out.stderr)) ? false : true;
  } catch {
    return null;
  }
}

/** This host's name: `Deno.hostname()` (which wants `--allow-sys`), else `/etc/hostname`, else "unknown". */
export function hostName(): string {
  try {
    return Deno.hostname();
  } catch {
    try {
      return Deno.readTextFileSync("/etc/hostname").trim() || "unknown";
    } catch {
      return "unknown";
    }
  }
}

/** A held lock; {@link release} removes it (only while it is still this process's). */
export class RunLock {
  constructor(readonly path: string, readonly holder: LockHolder) {}

  release(): void {
    try {
      const now = JSON.parse(Deno.readTextFileSync(this.path)) as LockHolder;
      if (now.pid === this.holder.pid && now.host === this.holder.host) Deno.removeSync(this.path);
    } catch {
      // Already gone (or replaced by a writer that found it stale): nothing of ours to remove.
    }
  }
}

function readHolder(path: string): LockHolder | null {
  try {
    const h = JSON.parse(Deno.readTextFileSync(path));
    return typeof h?.pid === "number" && typeof h?.host === "string" ? h : null;
  } catch {
    return null;
  }
}

/** Who holds the lock of `dir` (its lock file read as it is now), or null: no lock, or not readable. */
export function lockHolder(dir: string): LockHolder | null {
  return readHolder(`${dir}/${LOCK_FILE}`);
}

/** Synchronous sleep (the lock is taken synchronously). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Creates `path` holding `holder`, only if it does not exist; false when it does. The content is written to
 * a temporary file first and hard-linked to `path` (atomic, also on NFS), so a reader never sees a lock
 * file without its holder; where hard links are not supported, an exclusive create and a write.
 */
function createHolding(path: string, holder: LockHolder): boolean {
  const text = JSON.stringify(holder) + "\n";
  const tmp = `${path}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  Deno.writeTextFileSync(tmp, text);
  try {
    Deno.linkSync(tmp, path);
    return true;
  } catch (e) {
    // Over NFS a retransmitted link() can say "exists" when it was this process's that succeeded: then the
    // temporary has a second name.
    if (e instanceof Deno.errors.AlreadyExists) return Deno.statSync(tmp).nlink === 2;
    try {
      const f = Deno.openSync(path, { write: true, createNew: true });
      f.writeSync(new TextEncoder().encode(text));
      f.close();
      return true;
    } catch (e2) {
      if (e2 instanceof Deno.errors.AlreadyExists) return false;
      throw e2;
    }
  } finally {
    Deno.removeSync(tmp);
  }
}

const sameHolder = (a: LockHolder | null, b: LockHolder | null): boolean =>
  a !== null && b !== null && a.pid === b.pid && a.host === b.host && a.started === b.started;

/**
 * A lock or breaker file this old whose holder cannot be read (a writer that died between creating and
 * writing it, where hard links are not supported) or, for a breaker, of any holder (breaking takes
 * milliseconds), is abandoned.
 */
const ABANDONED_MS = 10_000;

/** The file's inode and age in ms, or null when it is gone. */
function fileAge(path: string): { ino: number | null; ms: number } | null {
  try {
    const s = Deno.statSync(path);
    return { ino: s.ino, ms: Date.now() - (s.mtime?.getTime() ?? Date.now()) };
  } catch {
    return null;
  }
}

/** Removes `path` if it is still the file `seen` described (the same inode): not one made since. */
function removeIfSame(path: string, seen: { ino: number | null }): void {
  const now = fileAge(path);
  if (!now || now.ino !== seen.ino) return;
  try {
    Deno.removeSync(path);
  } catch {
    // Removed by another process first.
  }
}

/**
 * Removes the lock at `path` if it still holds `stale`. Only one process breaks a lock at a time: it holds
 * `<path>.break` meanwhile, so two processes that both found the same stale lock never remove a fresh one
 * that the first of them has just made. Returns false when another process is breaking it right now.
 */
function breakStale(
  path: string,
  stale: LockHolder | null,
  seen: { ino: number | null },
  me: LockHolder,
): boolean {
  const breaker = `${path}.break`;
  if (!createHolding(breaker, me)) {
    // A breaker that died leaves its own file: abandoned when its process is gone (this host) or when it
    // is older than breaking takes; remove it (if it is still that file), then try again.
    const seen = fileAge(breaker);
    const other = readHolder(breaker);
    const dead = other !== null && other.host === me.host && processAlive(other.pid) === false;
    if (seen && (dead || seen.ms >= ABANDONED_MS)) removeIfSame(breaker, seen);
    return false;
  }
  try {
    const now = readHolder(path);
    if (stale === null ? now === null : sameHolder(now, stale)) removeIfSame(path, seen);
    return true;
  } finally {
    Deno.removeSync(breaker);
  }
}

/**
 * Takes the lock of `dir` (which must exist) for this process; `warn` hears of a stale lock removed.
 * Throws {@link RunLockError} naming the holder when another live process has it (or this process: a lock
 * is not reentrant; a caller that holds it passes it on, see `ExperimentOptions.lock`).
 */
export function acquireRunLock(dir: string, warn: (msg: string) => void = () => {}): RunLock {
  const path = `${dir}/${LOCK_FILE}`;
  const holder: LockHolder = {
    pid: Deno.pid,
    host: hostName(),
    started: new Date().toISOString(),
    command: ["deno", ...Deno.args].join(" "),
  };
  const deadline = Date.now() + 3 * ABANDONED_MS;
  while (Date.now() < deadline) {
    if (createHolding(path, holder)) return new RunLock(path, holder);
    const seen = fileAge(path);
    if (!seen) continue; // released meanwhile
    const other = readHolder(path);
    if (other === null && seen.ms < ABANDONED_MS) {
      // Being written (no hard links here), or just removed: look again shortly.
      sleepSync(50);
      continue;
    }
    const gone = other === null || (other.host === holder.host && processAlive(other.pid) === false);
    if (!gone) {
      throw new RunLockError(
        `Run directory "${dir}" is in use by process ${other!.pid} on ${other!.host} (since ${
          other!.started
        }: ` +
          `${other!.command}). Wait for it to finish; if no such process is running any more, delete ${path}`,
      );
    }
    if (breakStale(path, other, seen, holder)) {
      warn(
        other === null
          ? `removed the unreadable lock file ${path}`
          : `removed the stale lock of process ${other.pid} (since ${other.started}), which is gone`,
      );
    } else sleepSync(20);
  }
  throw new RunLockError(
    `Run directory "${dir}": its lock (${path}) could not be taken; other processes kept taking or breaking it`,
  );
}

/** Temporary files of atomic writes: `<anything>.tmp-<pid>-<id>` (run_dir.ts, segment caches). */
const TEMPORARY = /\.tmp-(\d+)(-[0-9a-f]+)?$/;

/** Deletes the temporaries in `dir` (not below it) whose writer of this host is gone; returns their names. */
export function removeStaleTemporaries(dir: string): string[] {
  const removed: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch {
    return removed;
  }
  for (const e of entries) {
    const m = TEMPORARY.exec(e.name);
    if (!m || processAlive(Number(m[1])) !== false) continue;
    try {
      Deno.removeSync(`${dir}/${e.name}`, { recursive: e.isDirectory });
      removed.push(e.name);
    } catch {
      // Another process removed it first.
    }
  }
  return removed;
}
