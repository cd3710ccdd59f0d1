/**
 * Config profiles: a named set of values that replaces some defaults (e.g. small sizes so an experiment
 * finishes in minutes on a stand-in corpus).
 *
 * The experiment's run hook sees only the resolved config, not which keys the user typed, so the rule is:
 * a key whose resolved value still equals its schema default takes the profile's value; a key whose value
 * differs from the default was given by the user (or by a resumed config) and is kept. One consequence: a
 * value typed on the command line that equals the schema default (e.g. `--esn_dim 1000`) is replaced by the
 * profile; choose the profile that keeps the defaults for that (for TIMIT: `--profile original`).
 */
import type { Config, ConfigSchema, ConfigValue } from "../config.ts";

/** One key the profile set, or one it left alone because the user set it. */
export interface ProfileChange {
  readonly key: string;
  readonly from: ConfigValue;
  readonly to: ConfigValue;
}

/** `cfg` with the profile `values` applied to the keys still at their schema default (see the module doc). */
export function applyProfile<S extends ConfigSchema>(
  schema: S,
  cfg: Config<S>,
  values: Readonly<Record<string, ConfigValue>>,
): { cfg: Config<S>; changed: ProfileChange[]; kept: ProfileChange[] } {
  const out: Record<string, ConfigValue> = { ...cfg };
  const changed: ProfileChange[] = [], kept: ProfileChange[] = [];
  for (const [key, to] of Object.entries(values)) {
    if (!Object.hasOwn(schema, key)) throw new Error(`applyProfile: the profile sets unknown key "${key}"`);
    const from = out[key];
    if (from === to) continue;
    if (from === schema[key].default) {
      out[key] = to;
      changed.push({ key, from, to });
    } else kept.push({ key, from, to });
  }
  return { cfg: Object.freeze(out) as Config<S>, changed, kept };
}

/** `key from -> to` list for logs. */
export function describeChanges(changes: readonly ProfileChange[]): string {
  return changes.map((c) => `${c.key} ${c.from} -> ${c.to}`).join(", ") || "(none)";
}
