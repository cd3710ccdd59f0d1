/**
 * Early stopping on the validation NLL: a pure monitor fed one value per evaluation, whose state is plain
 * JSON (it goes into every checkpoint header, so a resumed run stops at the same epoch).
 *
 * Rules (`early_stop`), with patience P (`early_stop_patience`) and tolerance tol (`early_stop_tol`):
 *
 * - `no_improvement` (classic patience): an evaluation improves when v < best - tol |best|; `best` is then
 *   v and the count restarts, otherwise (a non-finite v included) the count grows. Stops at count P.
 * - `converged`: the `ConvergenceMonitor` of the original dynamic flows (github AleixEF/DynamicFlows,
 *   `lib/utils/training_utils.py`, per epoch on the validation NLL in `lib/bin/dyn_esn_flow.py`), with
 *   evaluations in place of epochs. `record(v)` keeps the last two finite values and empties them on a
 *   non-finite one (the original: on NaN). An evaluation that then holds two values is a check: it passes
 *   when |v_k - v_{k-1}| / |v_{k-1}| < tol (and v_{k-1} != 0); a passing check counts when the previous
 *   check was the previous evaluation, any other check restarts the count at 0. Stops at count P. As in
 *   the original, the first check after the history (re)fills never counts (its previous check is not the
 *   previous evaluation), so with P = 3 the earliest stop is at the 5th evaluation.
 * - `none`: never stops (evaluations are still counted).
 *
 * Once the count reaches P the monitor is stopped; resuming with a larger patience continues it.
 */

/** The early-stopping rules (config `early_stop`). */
export const EARLY_STOP_RULES = ["none", "no_improvement", "converged"] as const;
export type EarlyStopRule = (typeof EARLY_STOP_RULES)[number];

/** The settings of a monitor (config `early_stop`, `early_stop_patience`, `early_stop_tol`). */
export interface EarlyStopOptions {
  readonly rule: EarlyStopRule;
  readonly patience: number;
  readonly tol: number;
}

/** A monitor's state, as stored in checkpoint headers (`early_stop`). Only finite numbers: plain JSON. */
export interface EarlyStopState {
  readonly rule: EarlyStopRule;
  /** Evaluations seen. */
  readonly evaluations: number;
  /** Epoch of the last evaluation (null before the first). */
  readonly epoch: number | null;
  /** Consecutive evaluations counted towards the patience. */
  readonly count: number;
  /** `no_improvement`: the best validation NLL so far and its epoch (null before a finite one). */
  readonly best: number | null;
  readonly best_epoch: number | null;
  /** `converged`: the last (at most two) finite validation NLLs, oldest first. */
  readonly history: readonly number[];
  /** `converged`: the evaluation (1-based) of the last check, null before the first. */
  readonly last_check: number | null;
}

const FRESH = {
  evaluations: 0,
  epoch: null,
  count: 0,
  best: null,
  best_epoch: null,
  history: [],
  last_check: null,
} as const;

/** The early-stopping monitor (see the module doc). */
export class EarlyStop {
  #s: EarlyStopState;

  /** A fresh monitor, or one continuing `state` (which must be of the same rule; see {@link checkState}). */
  constructor(readonly opts: EarlyStopOptions, state?: EarlyStopState) {
    if (!(Number.isInteger(opts.patience) && opts.patience >= 1)) {
      throw new Error(`EarlyStop: patience must be an integer of at least 1, got ${opts.patience}`);
    }
    if (!(opts.tol >= 0 && Number.isFinite(opts.tol))) {
      throw new Error(`EarlyStop: tol must be a finite number of at least 0, got ${opts.tol}`);
    }
    if (state && state.rule !== opts.rule) {
      throw new Error(`EarlyStop: state of rule "${state.rule}" given to a monitor of rule "${opts.rule}"`);
    }
    this.#s = state ? { ...state, history: [...state.history] } : { rule: opts.rule, ...FRESH };
  }

  /** The state to store (a copy). */
  state(): EarlyStopState {
    return { ...this.#s, history: [...this.#s.history] };
  }

  /** Whether the rule has fired: the count has reached the patience. */
  get stopped(): boolean {
    return this.opts.rule !== "none" && this.#s.count >= this.opts.patience;
  }

  /** Feeds the validation NLL of the evaluation at `epoch`; returns {@link stopped}. */
  update(epoch: number, nll: number): boolean {
    const s = this.#s;
    const evaluations = s.evaluations + 1;
    let { count, best, best_epoch, history, last_check } = s;
    if (this.opts.rule === "no_improvement") {
      if (Number.isFinite(nll) && (best === null || nll < best - this.opts.tol * Math.abs(best))) {
        [best, best_epoch, count] = [nll, epoch, 0];
      } else count++;
    } else if (this.opts.rule === "converged") {
      history = Number.isFinite(nll) ? [...history, nll].slice(-2) : [];
      if (history.length === 2) {
        const [prev, cur] = history;
        const pass = prev !== 0 && Math.abs((cur - prev) / prev) < this.opts.tol;
        count = pass && last_check === evaluations - 1 ? count + 1 : 0;
        last_check = evaluations;
      }
    }
    this.#s = { rule: s.rule, evaluations, epoch, count, best, best_epoch, history, last_check };
    return this.stopped;
  }

  /** Why the monitor stopped (or where it stands), in words. */
  reason(): string {
    const { count, best, best_epoch, history } = this.#s;
    const { patience, tol } = this.opts;
    const n = `${count} consecutive evaluation${count === 1 ? "" : "s"} (patience ${patience})`;
    switch (this.opts.rule) {
      case "none":
        return "early stopping is off";
      case "no_improvement":
        return best === null
          ? `no finite validation NLL in ${n}`
          : `validation NLL has not improved on ${best.toFixed(6)} (epoch ${best_epoch}) by more than ` +
            `tol ${tol} x |best| in ${n}`;
      case "converged": {
        const change = history.length === 2
          ? `, last ${(Math.abs(history[1] - history[0]) / Math.abs(history[0])).toExponential(2)}`
          : "";
        return `relative change of the validation NLL below tol ${tol} in ${n}${change}`;
      }
    }
  }
}

/**
 * Checks that `value` (read from a checkpoint header) is an {@link EarlyStopState}; returns the problem in
 * words, or null when it is one.
 */
export function checkState(value: unknown): string | null {
  if (typeof value !== "object" || value === null) return `is ${JSON.stringify(value)}, not an object`;
  const s = value as Record<string, unknown>;
  const count = (v: unknown) => Number.isInteger(v) && (v as number) >= 0;
  const finiteOrNull = (v: unknown) => v === null || (typeof v === "number" && Number.isFinite(v));
  const bad = (field: string) => `field "${field}" is ${JSON.stringify(s[field])}`;
  if (!EARLY_STOP_RULES.includes(s.rule as EarlyStopRule)) return bad("rule");
  for (const f of ["evaluations", "count"]) if (!count(s[f])) return bad(f);
  for (const f of ["epoch", "best_epoch", "last_check"]) if (!(s[f] === null || count(s[f]))) return bad(f);
  if (!finiteOrNull(s.best)) return bad("best");
  const h = s.history;
  if (!(Array.isArray(h) && h.length <= 2 && h.every((v) => finiteOrNull(v) && v !== null))) {
    return bad("history");
  }
  return null;
}
