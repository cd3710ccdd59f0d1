/**
 * Config profiles: a named set of values that replaces some defaults (e.g. small sizes so an experiment
 * finishes in minutes on a stand-in corpus).
 *
 * Keys the user gave explicitly win: the CLI passes them to run hooks (`RunOptions.explicitKeys`), and
 * a profile changes every other key it names. Where that set is unknown (a run hook called without it),
 * the fallback rule is that a key whose resolved value still equals its schema default takes the
 * profile's value, and any other value counts as given.
 */
import type { Config, ConfigSchema, ConfigValue } from "../config.ts";

/** One key the profile set, or one it left alone because the user set it. */
export interface ProfileChange {
  readonly key: string;
  readonly from: ConfigValue;
  readonly to: ConfigValue;
}

/** `cfg` with the profile `values` applied to the keys the user did not give (see the module doc). */
export function applyProfile<S extends ConfigSchema>(
  schema: S,
  cfg: Config<S>,
  values: Readonly<Record<string, ConfigValue>>,
  explicit?: ReadonlySet<string>,
): { cfg: Config<S>; changed: ProfileChange[]; kept: ProfileChange[] } {
  const out: Record<string, ConfigValue> = { ...cfg };
  const changed: ProfileChange[] = [], kept: ProfileChange[] = [];
  for (const [key, to] of Object.entries(values)) {
    if (!Object.hasOwn(schema, key)) throw new Error(`applyProfile: the profile sets unknown key "${key}"`);
    const from = out[key];
    if (from === to) continue;
    if (explicit ? !explicit.has(key) : from === schema[key].default) {
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
