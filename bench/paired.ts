/**
 * The paired comparison: echoflow and the PyTorch peer take turns, one training step (or evaluation batch)
 * each, so that both meet the same machine load. On a shared machine the load changes within seconds, and
 * separate timing phases can differ by 2x for the same code (rounds of `--rounds 3` gave 0.67 to 1.48 for
 * one build); alternating steps removes most of that.
 *
 * The peer side is `peer_driver.py serve`, which builds the peer's model and batches with the peer's own
 * code and runs one step per `step` line on its stdin, answering `{"ms": ..., "frames": ...}` (its own
 * clock, around the step only). echoflow's side is the runner-style step of `measure.ts`, timed the same
 * way. The ratio is (echoflow frames / echoflow seconds) / (peer frames / peer seconds) over the timed
 * steps, the definition of the separate-phase ratio.
 */
import { DataParallel } from "../lib/parallel/data_parallel.ts";
import { adam } from "../lib/runner/adam.ts";
import { type Timings, totalFramesPerSecond } from "./data.ts";
import { benchDataset, buildBenchModel, evalBatch, type SizeSpec, step, timeEncoding } from "./measure.ts";
import { PEER_DRIVER, type PeerDevice, peerEnv } from "./peer.ts";

/** What the peer runs in a paired comparison. */
export interface PeerStepSpec {
  readonly phase: "train" | "eval";
  readonly variant: string;
  readonly threads: number;
  /** Where torch runs (default cpu). */
  readonly device?: PeerDevice;
}

/** `peer_driver.py serve` as a child process: one step per {@link step} call. */
export class PeerServer {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #lines: AsyncIterator<string>;
  /** The driver's whole stderr, read as it comes (for the error when it stops early). */
  readonly #stderr: Promise<string>;

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#writer = child.stdin.getWriter();
    this.#lines = lines(child.stdout)[Symbol.asyncIterator]();
    this.#stderr = new Response(child.stderr).text().catch(() => "");
  }

  /** Starts the driver and waits for its `ready` line; throws with the driver's stderr when it fails. */
  static async start(python: string, peer: string, spec: PeerStepSpec, size: SizeSpec): Promise<PeerServer> {
    const args = [PEER_DRIVER, peer, "serve", "--phase", spec.phase, "--variant", spec.variant];
    args.push(
      "--threads",
      String(spec.threads),
      "--batch",
      String(size.batch),
      "--esn_dim",
      String(size.esnDim),
      "--device",
      spec.device ?? "cpu",
    );
    args.push("--steps", String(size.steps));
    const child = new Deno.Command(python, {
      args,
      env: peerEnv(spec.threads),
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const server = new PeerServer(child);
    try {
      const ready = await server.#next();
      if (ready.ready !== true) {
        throw new Error(`peer_driver.py: expected a ready line, got ${JSON.stringify(ready)}`);
      }
      return server;
    } catch (e) {
      await server.close(true);
      throw e;
    }
  }

  async #next(): Promise<Record<string, unknown>> {
    const line = await this.#lines.next();
    if (line.done) {
      const err = (await this.#stderr).trim().split("\n").slice(-3).join(" / ");
      throw new Error(`peer_driver.py ended early (exit code ${(await this.#child.status).code}): ${err}`);
    }
    return JSON.parse(line.value);
  }

  /** Runs one peer step; its milliseconds (the driver's clock) and real frames. */
  async step(): Promise<{ ms: number; frames: number }> {
    await this.#writer.write(new TextEncoder().encode("step\n"));
    const r = await this.#next();
    if (typeof r.ms !== "number" || typeof r.frames !== "number") {
      throw new Error(`peer_driver.py: expected {"ms", "frames"}, got ${JSON.stringify(r)}`);
    }
    return { ms: r.ms, frames: r.frames };
  }

  /** Ends the driver (end of its input; `kill`: at once) and waits for it. */
  async close(kill = false): Promise<void> {
    if (kill) {
      try {
        this.#child.kill();
      } catch { /* already gone */ }
    }
    await this.#writer.close().catch(() => {});
    await this.#child.status;
    await this.#stderr;
  }
}

/** The lines of a byte stream. */
async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buf = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      yield buf.slice(0, nl);
      buf = buf.slice(nl + 1);
    }
  }
  if (buf) yield buf;
}

/** Timings of both sides of a paired run. */
export interface Paired {
  readonly ours: Timings;
  readonly peer: Timings;
  /** `totalFramesPerSecond(ours) / totalFramesPerSecond(peer)`. */
  readonly ratio: number;
}

/**
 * `size.warmup + size.steps` alternating steps (echoflow first, then the peer; warm-up steps untimed) of
 * echoflow's cached-state model on the current backend (training on `threads` threads) and the peer as
 * `server` runs it.
 */
export async function pairedRun(
  server: PeerServer,
  phase: "train" | "eval",
  size: SizeSpec,
  threads = 1,
): Promise<Paired> {
  const model = buildBenchModel(size.esnDim, size.seed);
  const parallel = threads > 1 ? await DataParallel.start(model, threads) : null;
  const run = { data: benchDataset(size), model, parallel };
  const opt = adam(1e-4);
  const ours = { ms: [] as number[], frames: [] as number[] };
  const peer = { ms: [] as number[], frames: [] as number[] };
  try {
    timeEncoding(run.model, run.data, size.esnDim);
    for (let i = 0; i < size.warmup + size.steps; i++) {
      const t0 = performance.now();
      const n = phase === "train" ? await step(run, opt, i, size.batch) : await evalBatch(run, i, size.batch);
      const ms = performance.now() - t0;
      const p = await server.step();
      if (i < size.warmup) continue;
      ours.ms.push(ms);
      ours.frames.push(n);
      peer.ms.push(p.ms);
      peer.frames.push(p.frames);
    }
  } finally {
    parallel?.close();
    opt.dispose();
    run.model.dispose();
  }
  return { ours, peer, ratio: totalFramesPerSecond(ours) / totalFramesPerSecond(peer) };
}
