/**
 * `deno task status RUN_DIR [--json]`: the state of every class of a per-class run (finished, running,
 * pending, failed, interrupted, not started) with its best validation NLL, task, Slurm job and log, the
 * jobs of the run's latest Slurm submission, and the report (see `status.ts`). Exit codes: 0, 1 when the
 * directory cannot be read as a run, 2 for a usage error.
 */
import { runStatus } from "./status.ts";
import { formatStatus, statusJsonLines } from "./status_format.ts";

const USAGE = "usage: deno task status RUN_DIR [--json]";

export async function statusMain(argv: readonly string[]): Promise<number> {
  const json = argv.includes("--json");
  const rest = argv.filter((a) => a !== "--json");
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(USAGE);
    return 0;
  }
  if (rest.length !== 1 || rest[0].startsWith("-")) {
    console.error(
      `error: expected one run directory, got ${rest.length ? rest.join(" ") : "none"}\n${USAGE}`,
    );
    return 2;
  }
  try {
    const s = await runStatus(rest[0].replace(/\/+$/, "") || "/");
    if (json) console.log(statusJsonLines(s).join("\n"));
    else console.log(formatStatus(s).trimEnd());
    return 0;
  } catch (e) {
    console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await statusMain(Deno.args));
