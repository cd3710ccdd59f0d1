/**
 * The run directory and atomic file writes.
 *
 * A run directory holds `config.json`, `metrics.jsonl`, `summary.json`, checkpoints and samples. Every
 * whole-file write goes to a temporary file in the same directory and is then renamed over the target,
 * so a crash or a full disk never leaves a half-written file where a complete one is expected (rename
 * is atomic within one file system; the same directory guarantees that).
 */

/** The directory part of a path (`"."` when there is none). */
export function dirname(path: string): string {
  const i = path.replace(/\/+$/, "").lastIndexOf("/");
  return i < 0 ? "." : i === 0 ? "/" : path.slice(0, i);
}

/** Joins path parts with `/` (no normalisation beyond removing duplicate slashes at the joins). */
export function join(...parts: string[]): string {
  return parts.filter((p) => p !== "").join("/").replace(/\/{2,}/g, "/");
}

/** Writes `bytes` to `path` atomically: temp file in the same directory, then rename. */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const dir = dirname(path);
  const base = path.slice(dir.length + 1) || path;
  const tmp = join(dir, `.${base}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`);
  try {
    await Deno.writeFile(tmp, bytes);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw new Error(`Cannot write "${path}": ${e instanceof Error ? e.message : e}`);
  }
}

/** Writes `value` as pretty JSON to `path` atomically. */
export function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  return writeFileAtomic(path, new TextEncoder().encode(JSON.stringify(value, null, 2) + "\n"));
}

/** Appends one JSON line to `path` (created if missing). */
/**
 * Removes from the JSON-lines file `path` the records `drop` selects (atomically; a missing file is left
 * missing) and returns how many went.
 */
export async function pruneJsonl(
  path: string,
  drop: (record: Record<string, unknown>) => boolean,
): Promise<number> {
  if (!exists(path)) return 0;
  const lines = (await Deno.readTextFile(path)).split("\n").filter((l) => l.trim() !== "");
  const keep = lines.filter((l) => {
    try {
      return !drop(JSON.parse(l));
    } catch {
      return true; // not ours to judge: a line that is not JSON stays
    }
  });
  if (keep.length === lines.length) return 0;
  await writeFileAtomic(path, new TextEncoder().encode(keep.map((l) => l + "\n").join("")));
  return lines.length - keep.length;
}

export function appendJsonl(path: string, record: unknown): void {
  Deno.writeTextFileSync(path, JSON.stringify(record) + "\n", { append: true, create: true });
}

/** `YYYYmmdd-HHMMSS` in local time. */
export function timestamp(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${
    p(d.getSeconds())
  }`;
}

/** True when `path` exists. */
export function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/**
 * Creates a fresh run directory `<root>/<name>-<timestamp>` (with `-2`, `-3`, ... appended when taken)
 * and returns its path.
 */
export function createRunDir(name: string, root = "runs", now = new Date()): string {
  const base = join(root, `${name.replace(/[^A-Za-z0-9_.-]+/g, "_")}-${timestamp(now)}`);
  Deno.mkdirSync(root, { recursive: true });
  for (let i = 1;; i++) {
    const dir = i === 1 ? base : `${base}-${i}`;
    try {
      Deno.mkdirSync(dir);
      return dir;
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    }
  }
}
