/**
 * Every named experiment, imported statically. `--list` prints them; `--name` looks them up here.
 * To add an experiment: one import and one entry below.
 */
import type { ExperimentSpec } from "../lib/runner/types.ts";

// deno-lint-ignore no-explicit-any
export const REGISTRY: Readonly<Record<string, ExperimentSpec<any, any>>> = Object.freeze({});

/** Looks up an experiment by name; `undefined` when unknown. */
// deno-lint-ignore no-explicit-any
export function getExperiment(name: string): ExperimentSpec<any, any> | undefined {
  return Object.hasOwn(REGISTRY, name) ? REGISTRY[name] : undefined;
}
