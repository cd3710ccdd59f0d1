/**
 * echoflow's command-line entry point: `deno task run --name NAME [--key value ...]`.
 * Everything lives in lib/cli/main.ts; `--help` prints the usage.
 */
import { main } from "./lib/cli/main.ts";

if (import.meta.main) Deno.exit(await main(Deno.args));
