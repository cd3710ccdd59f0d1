/**
 * Spawns echoflow's entry points the way `deno task run` / `deno task bench` do (same permissions, the
 * repo's deno.json), for tests that assert stdout, stderr and the exit code.
 */
import { RUN_PERMISSIONS } from "../../lib/cli/args.ts";

/** The repository root (ends with `/`). */
export const ROOT = new URL("../../", import.meta.url).pathname;

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `script` (relative to the repo root) with `args`; `cwd` and extra `env` optional. */
export async function runScript(
  script: string,
  args: readonly string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
): Promise<Result> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--config", `${ROOT}deno.json`, ...RUN_PERMISSIONS, `${ROOT}${script}`, ...args],
    cwd: opts.cwd ?? ROOT,
    env: opts.env ?? {},
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Runs the CLI (`main.ts`) with `args`. */
export function runCli(args: readonly string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  return runScript("main.ts", args, opts);
}

/** Starts the CLI (`main.ts`) with `args` in the background, its output discarded: for tests that kill it. */
export function spawnCli(args: readonly string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--config", `${ROOT}deno.json`, ...RUN_PERMISSIONS, `${ROOT}main.ts`, ...args],
    cwd: ROOT,
    stdout: "null",
    stderr: "null",
  }).spawn();
}
