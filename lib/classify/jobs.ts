/**
 * Parallel per-class training on one machine: `num_jobs` child processes, each the echoflow CLI
 * (`Deno.execPath()` running `main.ts`) with the parent's config plus `--shard i/n --stage train`, writing
 * into the same run directory. Children's stderr lines are forwarded prefixed with their shard; the
 * parent waits for all and fails, naming the shards, if any child fails.
 */
import type { Config, ConfigSchema, ConfigValue } from "../config.ts";
import { CHILD_JOB_ENV, RUN_NAME_FLAG, RUN_PERMISSIONS } from "../cli/args.ts";

/** The echoflow entry point and its config file (for the import map). */
const MAIN_TS = new URL("../../main.ts", import.meta.url).pathname;
const DENO_JSON = new URL("../../deno.json", import.meta.url).pathname;

/**
 * `--key value` for every key of `cfg` that differs from its schema default or is in `explicit` (so a child
 * resolves the same config and applies a profile to the same keys), with `set` replacing or adding values.
 * Null is written `none`.
 */
export function configArgs<S extends ConfigSchema>(
  schema: S,
  cfg: Config<S>,
  set: Readonly<Record<string, ConfigValue>> = {},
  explicit: ReadonlySet<string> = new Set(),
): string[] {
  const all: Record<string, ConfigValue> = { ...cfg, ...set };
  const args: string[] = [];
  for (const [key, value] of Object.entries(all)) {
    if (!Object.hasOwn(schema, key)) throw new Error(`configArgs: unknown key "${key}"`);
    if (!Object.hasOwn(set, key) && !explicit.has(key) && value === schema[key].default) continue;
    args.push(`--${key === "name" ? RUN_NAME_FLAG : key}`, value === null ? "none" : String(value));
  }
  return args;
}

/** What one child needs: its label (e.g. `shard 2/4`) and its CLI arguments (after `main.ts`). */
export interface ChildJob {
  readonly label: string;
  readonly args: readonly string[];
}

/** Forwards a child's output line by line, each prefixed with `[label] `. */
async function forward(stream: ReadableStream<Uint8Array>, label: string, write: (s: string) => void) {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const lines = (rest + chunk).split(/\r|\n/);
    rest = lines.pop()!;
    for (const l of lines) if (l.trim() !== "") write(`[${label}] ${l}\n`);
  }
  if (rest.trim() !== "") write(`[${label}] ${rest}\n`);
}

/**
 * Runs every job as `deno run <permissions> --config deno.json main.ts <args>` at once and waits for all.
 * Throws when any exits non-zero, naming each failed job and its exit code.
 */
export async function runChildJobs(
  jobs: readonly ChildJob[],
  write: (s: string) => void = (s) => Deno.stderr.writeSync(new TextEncoder().encode(s)),
): Promise<void> {
  const runs = jobs.map(async (job) => {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...RUN_PERMISSIONS, "--config", DENO_JSON, MAIN_TS, ...job.args],
      stdin: "null",
      stdout: "null",
      // Tells the child CLI that the parent owns <run dir>/config.json (see lib/cli/main.ts).
      env: { [CHILD_JOB_ENV]: "1" },
      stderr: "piped",
    }).spawn();
    const [status] = await Promise.all([child.status, forward(child.stderr, job.label, write)]);
    return { job, code: status.code };
  });
  const failed = (await Promise.all(runs)).filter((r) => r.code !== 0);
  if (failed.length) {
    throw new Error(
      `Parallel training failed: ${
        failed.map((f) => `${f.job.label} exited with code ${f.code}`).join("; ")
      } ` +
        `(see the lines prefixed with their label above)`,
    );
  }
}
