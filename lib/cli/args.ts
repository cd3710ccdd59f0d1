/**
 * Command-line parsing: `--key value`, `--key=value`, `--flag`, `--no-flag` (and `-h`).
 *
 * The CLI's own flags are fixed; every other `--key` is a config key of the chosen experiment, which is
 * only known after `--name` is read, so parsing has two stages: {@link parseCli} splits the arguments,
 * {@link configOverrides} checks the rest against the experiment's schema. Hyphens in keys are read as
 * underscores (`--batch-size` = `--batch_size`).
 */
import { type BackendName, BACKENDS } from "../backend.ts";
import { ConfigError, type ConfigSchema, type ConfigValue, parseValue } from "../config.ts";

/** A usage error (bad flag, missing value, unknown experiment); the CLI exits with code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** The CLI's own flags. */
export interface CliFlags {
  readonly name: string | null;
  readonly list: boolean;
  readonly help: boolean;
  readonly backend: BackendName;
  readonly out: string | null;
  readonly resume: string | null;
  readonly json: boolean;
  readonly quiet: boolean;
  /** Start over in an `--out` that holds a run (its checkpoints, metrics and samples are deleted first). */
  readonly overwrite: boolean;
}

/** A `--key[=value]` that is not a CLI flag (a config key to be checked against the schema). */
export interface RawOption {
  readonly key: string;
  /** null for a bare `--key` or `--no-key`. */
  readonly value: string | null;
  readonly negated: boolean;
}

/** Value-taking CLI flags and what they expect. */
const VALUE_FLAGS = {
  name: "an experiment name",
  backend: BACKENDS.join("|"),
  out: "a directory",
  resume: "a run directory or checkpoint file",
} as const;
const BOOL_FLAGS = ["list", "help", "json", "quiet", "overwrite"] as const;
/** The config key `name` (run name) is set with `--run_name`, since `--name` picks the experiment. */
export const RUN_NAME_FLAG = "run_name";

/** Splits `argv` into the CLI's flags and the remaining `--key value` options. */
export function parseCli(argv: readonly string[]): { flags: CliFlags; options: RawOption[] } {
  const flags: Record<string, string | boolean | null> = {
    name: null,
    list: false,
    help: false,
    backend: "auto",
    out: null,
    resume: null,
    json: false,
    quiet: false,
    overwrite: false,
  };
  const options: RawOption[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "-h") {
      flags.help = true;
      continue;
    }
    if (!arg.startsWith("--") || arg === "--") {
      throw new UsageError(`Unexpected argument "${arg}": options are written --key value`);
    }
    const eq = arg.indexOf("=");
    let key = (eq < 0 ? arg.slice(2) : arg.slice(2, eq)).replaceAll("-", "_");
    let value: string | null = eq < 0 ? null : arg.slice(eq + 1);
    const negated = value === null && key.startsWith("no_");
    if (negated) key = key.slice(3);
    if ((BOOL_FLAGS as readonly string[]).includes(key)) {
      if (value !== null) throw new UsageError(`--${key} takes no value, got "${value}"`);
      flags[key] = !negated;
      continue;
    }
    if (value === null && !negated && i + 1 < argv.length && !argv[i + 1].startsWith("--")) value = argv[++i];
    if (key in VALUE_FLAGS) {
      const what = VALUE_FLAGS[key as keyof typeof VALUE_FLAGS];
      if (value === null || value === "" || negated) throw new UsageError(`--${key} expects ${what}`);
      if (key === "backend" && !(BACKENDS as readonly string[]).includes(value)) {
        throw new UsageError(`--backend must be one of ${BACKENDS.join(", ")}; got "${value}"`);
      }
      flags[key] = value;
      continue;
    }
    options.push({ key: key === RUN_NAME_FLAG ? "name" : key, value, negated });
  }
  return { flags: flags as unknown as CliFlags, options };
}

/**
 * Turns raw options into typed overrides for `resolveConfig`: values are parsed to the key's type
 * (`none` is null for nullable keys), a bare boolean key means true, `--no-key` false. Unknown keys and missing values are {@link ConfigError}s that list the valid keys.
 */
export function configOverrides(
  schema: ConfigSchema,
  options: readonly RawOption[],
): Record<string, ConfigValue> {
  const out: Record<string, ConfigValue> = {};
  const valid = () => Object.keys(schema).map((k) => (k === "name" ? RUN_NAME_FLAG : k)).sort().join(", ");
  for (const o of options) {
    const f = Object.hasOwn(schema, o.key) ? schema[o.key] : undefined;
    const flag = o.key === "name" ? RUN_NAME_FLAG : o.key;
    if (!f) throw new ConfigError(`Unknown config key "${flag}". Valid keys: ${valid()}`);
    if (o.key in out) throw new ConfigError(`--${flag} is given more than once`);
    if (o.negated || o.value === null) {
      if (f.type !== "bool") {
        throw new ConfigError(`--${o.negated ? "no-" : ""}${flag} needs a value (${f.type})`);
      }
      out[o.key] = !o.negated;
    } else out[o.key] = parseValue(flag, f, o.value);
  }
  return out;
}

/**
 * Set in the environment of child processes that train a shard of a parent run (`--num_jobs`): the child
 * writes into the parent's run directory but leaves its config.json (the parent's command) alone.
 */
export const CHILD_JOB_ENV = "ECHOFLOW_CHILD_JOB";

/** The permissions of `deno task run` (deno.json): what a spawned echoflow process gets. */
export const RUN_PERMISSIONS: readonly string[] = [
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-run",
  "--unstable-webgpu",
];
