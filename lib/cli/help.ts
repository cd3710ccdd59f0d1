/**
 * The CLI's help texts: general usage, the experiment list, and one experiment's config keys (type,
 * default, doc), generated from the registry and the experiment's schema so they never go stale.
 */
import { type ConfigSchema, type ConfigValue, describeType } from "../config.ts";
import type { ExperimentSpec } from "../runner/types.ts";
import { RUN_NAME_FLAG } from "./args.ts";

// deno-lint-ignore no-explicit-any
type Registry = Readonly<Record<string, ExperimentSpec<any, any>>>;

/** One line per experiment: name and description. */
export function listText(registry: Registry): string {
  const names = Object.keys(registry).sort();
  if (names.length === 0) return "  (no experiments registered)\n";
  const w = Math.max(...names.map((n) => n.length));
  return names.map((n) => `  ${n.padEnd(w)}  ${registry[n].description}\n`).join("");
}

/** General usage plus the experiment list. */
export function usageText(registry: Registry): string {
  return `echoflow: normalizing-flow experiments on TensorFlow.js

Usage:
  deno task run --name NAME [--key value ...] [options]
  deno task run --name NAME --help        every config key of NAME with type, default and meaning
  deno task run --resume RUN_DIR_OR_CHECKPOINT [--key value ...]

Options:
  --name NAME          experiment to run (see below)
  --list               list the experiments
  -h, --help           this help, or with --name the experiment's config keys
  --backend B          auto|webgpu|wasm|cpu (default auto: WebGPU on a hardware GPU, else wasm); every
                       experiment runs on each
  --out DIR            run directory (default runs/<name>-<YYYYmmdd-HHMMSS>); one that holds a run is
                       refused (per-class experiments: it continues, skipping finished classes)
  --overwrite          with --out DIR holding a run: delete its checkpoints, metrics and samples, start over
  --resume PATH        continue a run from its directory (last.ckpt) or a checkpoint file; config comes
                       from the run's config.json (else the checkpoint), overrides given here win
  --json               one JSON object per line on stdout for every metric and the summary
  --quiet              no progress or info lines (warnings and errors still print)
  --KEY VALUE          any config key (--KEY=VALUE, --KEY / --no-KEY for booleans; none for null);
                       the run name is --${RUN_NAME_FLAG}

Exit codes: 0 success, 1 runtime failure, 2 usage error. ECHOFLOW_DEBUG=1 prints stack traces.

Experiments:
${listText(registry)}`;
}

const show = (
  v: ConfigValue,
) => (v === null ? "none" : typeof v === "string" ? JSON.stringify(v) : String(v));

/** Every config key of `spec`: flag, type, default and doc. */
export function configHelpText(spec: ExperimentSpec<ConfigSchema>): string {
  const rows = Object.entries(spec.config).map(([k, f]) => ({
    flag: `--${k === "name" ? RUN_NAME_FLAG : k}`,
    type: describeType(f),
    def: show(f.default),
    doc: f.doc,
  }));
  const wf = Math.max(...rows.map((r) => r.flag.length));
  const wt = Math.max(...rows.map((r) => r.type.length));
  const wd = Math.max(...rows.map((r) => r.def.length), "default".length);
  const lines = rows.map((r) =>
    `  ${r.flag.padEnd(wf)}  ${r.type.padEnd(wt)}  ${r.def.padEnd(wd)}  ${r.doc}`
  );
  return `${spec.name}: ${spec.description}

Usage: deno task run --name ${spec.name} [--key value ...]

Config keys (flag, type, default, meaning):
${lines.join("\n")}
`;
}
