/**
 * Typed, documented experiment configuration.
 *
 * An experiment declares a frozen {@link ConfigSchema}: every key has a type, a default and a doc string.
 * The CLI prints the schema as `--help`, parses `--key value` overrides to the key's type, and refuses
 * unknown keys and ill-typed values with an error that lists the valid choices.
 */

/** The value types a config key can hold. */
export type FieldType = "float" | "int" | "bool" | "string" | "choice";

/** Values a resolved config can hold. */
export type ConfigValue = number | boolean | string | null;

/** One documented config key. */
export interface Field<V extends ConfigValue = ConfigValue> {
  readonly type: FieldType;
  readonly default: V;
  readonly doc: string;
  /** Valid values for `choice` fields. */
  readonly choices?: readonly string[];
  /** Whether `null` (written `none` on the command line) is allowed. */
  readonly nullable?: boolean;
  /** Smallest allowed value of a `float` or `int` key (inclusive). */
  readonly min?: number;
  /** Largest allowed value of a `float` or `int` key (inclusive). */
  readonly max?: number;
}

/** Options of numeric keys. */
export interface NumberOptions {
  /** Smallest allowed value (inclusive). */
  readonly min?: number;
  /** Largest allowed value (inclusive). */
  readonly max?: number;
}

/** A frozen map from key to field. */
export type ConfigSchema = Readonly<Record<string, Field>>;

/** The resolved values of a schema: one value per key. */
export type Config<S extends ConfigSchema = ConfigSchema> = { readonly [K in keyof S]: S[K]["default"] };

/** The bounds of a numeric key, checked for consistency when the schema is written. */
function range(opts?: NumberOptions): { min?: number; max?: number } {
  const { min, max } = opts ?? {};
  if (min !== undefined && max !== undefined && !(min <= max)) {
    throw new Error(`config field: min ${min} is above max ${max}`);
  }
  return { ...(min !== undefined && { min }), ...(max !== undefined && { max }) };
}

/** A float key. */
export function float(value: number, doc: string, opts?: NumberOptions): Field<number>;
export function float(
  value: number | null,
  doc: string,
  opts: NumberOptions & { nullable: true },
): Field<number | null>;
export function float(
  value: number | null,
  doc: string,
  opts?: NumberOptions & { nullable?: true },
): Field<number | null> {
  return { type: "float", default: value, doc, nullable: opts?.nullable ?? false, ...range(opts) };
}

/** An integer key. */
export function int(value: number, doc: string, opts?: NumberOptions): Field<number>;
export function int(
  value: number | null,
  doc: string,
  opts: NumberOptions & { nullable: true },
): Field<number | null>;
export function int(
  value: number | null,
  doc: string,
  opts?: NumberOptions & { nullable?: true },
): Field<number | null> {
  return { type: "int", default: value, doc, nullable: opts?.nullable ?? false, ...range(opts) };
}

/** A boolean key (`--key`, `--key true`, `--key false`, `--no-key`). */
export function bool(value: boolean, doc: string): Field<boolean> {
  return { type: "bool", default: value, doc };
}

/** A free string key. */
export function str(value: string, doc: string): Field<string>;
export function str(value: string | null, doc: string, opts: { nullable: true }): Field<string | null>;
export function str(value: string | null, doc: string, opts?: { nullable: true }): Field<string | null> {
  return { type: "string", default: value, doc, nullable: opts?.nullable ?? false };
}

/** A key restricted to a list of strings. */
export function choice<T extends string>(choices: readonly T[], value: T, doc: string): Field<T> {
  if (!choices.includes(value)) throw new Error(`Default "${value}" is not one of ${choices.join(", ")}`);
  return { type: "choice", default: value, doc, choices };
}

/** Freezes a schema (and its fields) so no run can mutate the defaults of another. */
export function defineConfig<S extends Record<string, Field>>(schema: S): Readonly<S> {
  for (const f of Object.values(schema)) Object.freeze(f);
  return Object.freeze(schema);
}

/** Raised for a config problem the user caused (unknown key, wrong type); the CLI exits with code 2. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Parses a command-line string to the type of `field`; `key` is named in errors. */
export function parseValue(key: string, field: Field, raw: string): ConfigValue {
  const s = raw.trim();
  if (field.nullable && (s === "none" || s === "null")) return null;
  switch (field.type) {
    case "float": {
      const v = Number(s);
      if (s === "" || !Number.isFinite(v)) throw new ConfigError(`--${key} expects a number, got "${raw}"`);
      return checkRange(key, field, v);
    }
    case "int": {
      const v = Number(s);
      if (s === "" || !Number.isInteger(v)) {
        throw new ConfigError(`--${key} expects an integer, got "${raw}"`);
      }
      return checkRange(key, field, v);
    }
    case "bool": {
      if (["true", "1", "yes", "on"].includes(s.toLowerCase())) return true;
      if (["false", "0", "no", "off"].includes(s.toLowerCase())) return false;
      throw new ConfigError(`--${key} expects true or false, got "${raw}"`);
    }
    case "choice": {
      if (!field.choices!.includes(s)) {
        throw new ConfigError(`--${key} must be one of ${field.choices!.join(", ")}; got "${raw}"`);
      }
      return s;
    }
    case "string":
      return s;
  }
}

/** Checks that `value` has the type of `field` (used for configs read back from JSON). */
export function checkValue(key: string, field: Field, value: unknown): ConfigValue {
  if (value === null && field.nullable) return null;
  const bad = () =>
    new ConfigError(`Config key "${key}" expects ${describeType(field)}, got ${JSON.stringify(value)}`);
  switch (field.type) {
    case "float":
      if (typeof value !== "number" || !Number.isFinite(value)) throw bad();
      return checkRange(key, field, value);
    case "int":
      if (typeof value !== "number" || !Number.isInteger(value)) throw bad();
      return checkRange(key, field, value);
    case "bool":
      if (typeof value !== "boolean") throw bad();
      return value;
    case "choice":
      if (typeof value !== "string" || !field.choices!.includes(value)) throw bad();
      return value;
    case "string":
      if (typeof value !== "string") throw bad();
      return value;
  }
}

function checkRange(key: string, field: Field, v: number): number {
  if (field.min !== undefined && v < field.min) {
    throw new ConfigError(`--${key} must be at least ${field.min}, got ${v}`);
  }
  if (field.max !== undefined && v > field.max) {
    throw new ConfigError(`--${key} must be at most ${field.max}, got ${v}`);
  }
  return v;
}

/** A short human description of a field's type, e.g. `int`, `float|none`, `int>=1`, `float in [0, 1]`, `{a,b}`. */
export function describeType(field: Field): string {
  const { min, max } = field;
  const base = field.type === "choice"
    ? `{${field.choices!.join(",")}}`
    : min !== undefined && max !== undefined
    ? `${field.type} in [${min}, ${max}]`
    : min !== undefined
    ? `${field.type}>=${min}`
    : max !== undefined
    ? `${field.type}<=${max}`
    : field.type;
  return field.nullable ? `${base}|none` : base;
}

/**
 * Resolves a config: defaults of `schema`, then `overrides` (already typed values or raw strings).
 * Unknown keys are refused with the list of valid keys.
 */
export function resolveConfig<S extends ConfigSchema>(
  schema: S,
  overrides: Record<string, ConfigValue | string> = {},
): Config<S> {
  const out: Record<string, ConfigValue> = {};
  for (const [k, f] of Object.entries(schema)) out[k] = f.default;
  for (const [k, v] of Object.entries(overrides)) {
    const f = schema[k];
    if (!f) {
      throw new ConfigError(
        `Unknown config key "${k}". Valid keys: ${Object.keys(schema).sort().join(", ")}`,
      );
    }
    out[k] = typeof v === "string" && f.type !== "string" && f.type !== "choice"
      ? parseValue(k, f, v)
      : checkValue(k, f, typeof v === "string" && f.type === "choice" ? parseValue(k, f, v) : v);
  }
  return Object.freeze(out) as Config<S>;
}

/**
 * What changed between a saved config (a checkpoint's, a resumed run's) and the config now in use, one
 * human-readable line per key; `source` names the saved side ("the checkpoint"). With `schema`, a key the
 * saved config lacks is no change when its value now is the schema's default (the key is newer than the
 * saved run, which behaved as that default).
 */
export function configChanges(
  saved: Readonly<Record<string, unknown>>,
  now: Readonly<Record<string, unknown>>,
  source: string,
  schema?: ConfigSchema,
): string[] {
  const out: string[] = [];
  const show = (v: unknown) => JSON.stringify(v);
  for (const k of new Set([...Object.keys(saved), ...Object.keys(now)])) {
    if (!Object.hasOwn(now, k)) out.push(`config key "${k}" of ${source} no longer exists; ignored`);
    else if (!Object.hasOwn(saved, k)) {
      // A key added to the schema since, at its default: the saved run behaved as that default.
      if (!(schema && Object.hasOwn(schema, k) && show(schema[k].default) === show(now[k]))) {
        out.push(`config key "${k}" is new since ${source}: ${show(now[k])}`);
      }
    } else if (show(saved[k]) !== show(now[k])) {
      out.push(`config key "${k}" differs from ${source}: ${show(saved[k])} -> ${show(now[k])}`);
    }
  }
  return out;
}
