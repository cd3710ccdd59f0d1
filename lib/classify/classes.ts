/**
 * Which classes a per-class experiment trains, and how they are split across processes or machines.
 *
 * - `--classes`: `""` every class present in training, `aa,iy,...` a list, `N` the N most frequent.
 * - `--shard i/n` (1 <= i <= n): shard i of n trains only its classes. Classes go to shards by the
 *   longest-processing-time rule (Graham, 1969): in order of decreasing training frames (ties: by name),
 *   each class joins the shard with the fewest frames so far (ties: the lower shard), so every class is in
 *   exactly one shard, the assignment depends only on the class list and sizes, and the heaviest shard
 *   exceeds the lightest by at most the frames of one class.
 */
import { ConfigError } from "../config.ts";

/** Training size of a class (segments decide "most frequent"; frames balance the shards). */
export interface ClassCount {
  readonly name: string;
  readonly segments: number;
  readonly frames: number;
}

/**
 * The chosen classes, in the order of `counts` (which lists every class present in training). Unknown or
 * absent labels, duplicates and counts out of range are {@link ConfigError}s that list the valid labels.
 */
export function parseClasses(spec: string, counts: readonly ClassCount[]): string[] {
  const present = counts.filter((c) => c.segments > 0);
  const valid = () => present.map((c) => c.name).join(",");
  const s = spec.trim();
  if (s === "") return present.map((c) => c.name);
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    if (n < 1 || n > present.length) {
      throw new ConfigError(
        `--classes ${s}: a count must be between 1 and ${present.length} (the classes present in training: ${valid()})`,
      );
    }
    const top = [...present].sort((a, b) => b.segments - a.segments || (a.name < b.name ? -1 : 1)).slice(
      0,
      n,
    );
    const keep = new Set(top.map((c) => c.name));
    return present.filter((c) => keep.has(c.name)).map((c) => c.name);
  }
  const want = s.split(",").map((x) => x.trim()).filter((x) => x !== "");
  const known = new Set(present.map((c) => c.name));
  const unknown = want.filter((x) => !known.has(x));
  if (unknown.length) {
    throw new ConfigError(
      `--classes: unknown or absent class${unknown.length > 1 ? "es" : ""} ${unknown.join(", ")}. ` +
        `Valid labels (present in training): ${valid()}`,
    );
  }
  const dup = want.find((x, i) => want.indexOf(x) !== i);
  if (dup !== undefined) throw new ConfigError(`--classes: "${dup}" is listed twice`);
  const keep = new Set(want);
  return present.filter((c) => keep.has(c.name)).map((c) => c.name);
}

/** Shard `index` (1-based) of `count`. */
export interface Shard {
  readonly index: number;
  readonly count: number;
}

/** Parses `"i/n"` (1 <= i <= n); `""` is no sharding (null). Anything else is a {@link ConfigError}. */
export function parseShard(spec: string): Shard | null {
  const s = spec.trim();
  if (s === "") return null;
  const m = /^(\d+)\/(\d+)$/.exec(s);
  const index = m ? Number(m[1]) : NaN, count = m ? Number(m[2]) : NaN;
  if (!(count >= 1 && index >= 1 && index <= count)) {
    throw new ConfigError(`--shard expects i/n with 1 <= i <= n (e.g. 2/4), got "${spec}"`);
  }
  return { index, count };
}

/** The classes of every shard (see the module doc); `shards[i - 1]` belongs to shard i. */
export function assignShards(
  classes: readonly string[],
  counts: readonly ClassCount[],
  n: number,
): string[][] {
  if (!(Number.isInteger(n) && n >= 1)) throw new Error(`assignShards: need n >= 1 shards, got ${n}`);
  const frames = new Map(counts.map((c) => [c.name, c.frames]));
  const order = [...classes].sort((a, b) => (frames.get(b) ?? 0) - (frames.get(a) ?? 0) || (a < b ? -1 : 1));
  const shards: string[][] = Array.from({ length: n }, () => []);
  const load = new Array<number>(n).fill(0);
  for (const c of order) {
    let s = 0;
    for (let j = 1; j < n; j++) if (load[j] < load[s]) s = j;
    shards[s].push(c);
    load[s] += frames.get(c) ?? 0;
  }
  return shards;
}

/** The classes shard `shard` trains (all of them without a shard), in the order of `classes`. */
export function shardClasses(
  classes: readonly string[],
  counts: readonly ClassCount[],
  shard: Shard | null,
): string[] {
  if (!shard) return [...classes];
  const mine = new Set(assignShards(classes, counts, shard.count)[shard.index - 1]);
  return classes.filter((c) => mine.has(c));
}
