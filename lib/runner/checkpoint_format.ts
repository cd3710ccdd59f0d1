/**
 * The checkpoint file format. A checkpoint (format 2) is a safetensors file (`safetensors.ts`), so any
 * safetensors reader opens it (`safetensors.torch.load_file`, `safe_open`):
 *
 *   tensors (float32 `F32` or int32 `I32`, echoflow's own names after a group prefix)
 *     params/<name>           the model's trained parameters, e.g. `params/density/flow/0/rescale`
 *     buffers/<name>          fixed arrays saved with the model, e.g. `buffers/encoder/feedback` (W_fb)
 *     optimizer/<name>        `optimizer.getWeights()`: Adam's `iter`, its moments `<variable>/m`, `/v`
 *     optimizer_extra/<name>  optimizer variables outside getWeights (Adam's `accBeta1`, `accBeta2`)
 *   __metadata__ (strings; "JSON" marks the JSON text of a value)
 *     checksum          `crc32:` and 8 lower-case hex digits (below); first key of the first object
 *     format            `echoflow`
 *     format_version    `2`
 *     experiment        the experiment's name
 *     optimizer_class   `Adam`, `SGD`, ...
 *     created           ISO 8601 time of writing
 *     backend           the backend that trained (absent: unknown)
 *     epoch, step       completed epochs and optimisation steps (JSON)
 *     config            the resolved config (JSON object)
 *     best              best validation metrics and the test metrics at that epoch (JSON object)
 *     rng               the training random stream's state (JSON)
 *     early_stop        the early-stopping monitor (JSON; absent in checkpoints from before it)
 *     wall_s            seconds the run had taken over all its processes (JSON; absent in old ones)
 *     optimizer_order   the `optimizer/` names in getWeights() order (JSON array): Adam's moments
 *                       belong to the parameters by position
 *
 * The checksum is the CRC-32 (zlib polynomial, node:zlib) of every byte of the file, with the checksum's
 * own 8 hex digits counted as ASCII `0`. A reader finds them after the bytes `"checksum":"crc32:`, which
 * occur once: inside a JSON string a quote is escaped, so no metadata value can contain them.
 *
 * Format 1 (magic `ECHOFLOW`, echoflow's own layout) is still read; see {@link decodeCheckpoint}.
 */
import { crc32 } from "node:zlib";
import type { ConfigValue } from "../config.ts";
import type { RngState } from "../rng.ts";
import type { EarlyStopState } from "./early_stop.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  type ReadTensor,
  type SafeDType,
  type SafeTensor,
  SafetensorsError,
} from "./safetensors.ts";

/** The format version this code writes (it reads 1 and 2). */
export const FORMAT_VERSION = 2;

/** Stored tensor dtypes (4 bytes per element). */
export type DType = "float32" | "int32";

/** Where one tensor lies in the data section. */
export interface TensorEntry {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: DType;
  /** Byte offset into the data section. */
  readonly offset: number;
  readonly length: number;
}

/** A tensor's values, host side. */
export interface HostTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly data: Float32Array | Int32Array;
}

/** The groups of tensors a checkpoint holds; optimizer weights keep their order (slots are positional). */
export interface TensorGroups<T> {
  readonly params: readonly T[];
  readonly buffers: readonly T[];
  /** `optimizer.getWeights()`, in order. */
  readonly optimizer: readonly T[];
  /** Optimizer variables outside getWeights (Adam's running beta powers), by field name. */
  readonly optimizerExtra: readonly T[];
}

/** Everything in a checkpoint except the tensor data. */
export interface CheckpointMeta {
  readonly experiment: string;
  readonly config: Readonly<Record<string, ConfigValue>>;
  /** Completed epochs. */
  readonly epoch: number;
  /** Completed optimisation steps. */
  readonly step: number;
  /** Best validation result so far and the test result at that epoch. */
  readonly best: Readonly<Record<string, number | null>>;
  readonly rng: RngState;
  readonly backend: string | null;
  /**
   * Seconds the run had taken when this was written, over all its processes (a resumed run adds its own);
   * absent in checkpoints written before this field existed.
   */
  readonly wall_s?: number;
  /**
   * The early-stopping monitor after the last evaluation up to `epoch` (config `early_stop`); absent in
   * checkpoints written before early stopping existed, which resume with a fresh monitor.
   */
  readonly early_stop?: EarlyStopState;
  /** The optimizer's class name (`Adam`, `SGD`, ...). */
  readonly optimizerClass: string;
  readonly created: string;
}

/** The metadata plus where each tensor lies in the data section. */
export interface CheckpointHeader extends CheckpointMeta {
  readonly tensors: TensorGroups<TensorEntry>;
}

/** A problem with a checkpoint file; the message names the file. */
export class CheckpointError extends Error {
  override name = "CheckpointError";
  constructor(path: string, problem: string) {
    super(`Cannot load checkpoint "${path}": ${problem}`);
  }
}

type Group = keyof TensorGroups<unknown>;
/** Each group's tensor-name prefix in the file. */
const PREFIX: Readonly<Record<Group, string>> = {
  params: "params/",
  buffers: "buffers/",
  optimizer: "optimizer/",
  optimizerExtra: "optimizer_extra/",
};
const GROUPS = Object.keys(PREFIX) as Group[];

const CHECKSUM_KEY = new TextEncoder().encode('"checksum":"crc32:');
const ZERO_DIGITS = "00000000";

/** Byte offset of the checksum's 8 hex digits in the header `bytes[8, end)`, or -1 when it has none. */
function checksumAt(bytes: Uint8Array, end: number): number {
  outer: for (let i = 8; i + CHECKSUM_KEY.length + 8 <= end; i++) {
    for (let k = 0; k < CHECKSUM_KEY.length; k++) if (bytes[i + k] !== CHECKSUM_KEY[k]) continue outer;
    return i + CHECKSUM_KEY.length;
  }
  return -1;
}

/** CRC-32 of `bytes` with the 8 bytes at `at` read as ASCII zeros (see the module doc). */
function checksumOf(bytes: Uint8Array, at: number): number {
  const zeros = new TextEncoder().encode(ZERO_DIGITS);
  return crc32(bytes.subarray(at + 8), crc32(zeros, crc32(bytes.subarray(0, at))));
}

const toSafe = (d: DType): SafeDType => (d === "float32" ? "F32" : "I32");

/** Serialises a checkpoint to safetensors bytes (see the module doc for names and metadata). */
export function encodeCheckpoint(meta: CheckpointMeta, tensors: TensorGroups<HostTensor>): Uint8Array {
  const metadata: Record<string, string> = {
    checksum: `crc32:${ZERO_DIGITS}`,
    format: "echoflow",
    format_version: String(FORMAT_VERSION),
    experiment: meta.experiment,
    optimizer_class: meta.optimizerClass,
    created: meta.created,
    ...(meta.backend !== null ? { backend: meta.backend } : {}),
    epoch: JSON.stringify(meta.epoch),
    step: JSON.stringify(meta.step),
    config: JSON.stringify(meta.config),
    best: JSON.stringify(meta.best),
    rng: JSON.stringify(meta.rng),
    ...(meta.early_stop !== undefined ? { early_stop: JSON.stringify(meta.early_stop) } : {}),
    ...(meta.wall_s !== undefined ? { wall_s: JSON.stringify(meta.wall_s) } : {}),
    optimizer_order: JSON.stringify(tensors.optimizer.map((t) => t.name)),
  };
  const safe: SafeTensor[] = GROUPS.flatMap((g) =>
    tensors[g].map((t) => ({
      name: PREFIX[g] + t.name,
      dtype: toSafe(t.dtype),
      shape: t.shape,
      data: t.data,
    }))
  );
  const bytes = encodeSafetensors(safe, metadata);
  const at = checksumAt(bytes, bytes.length);
  const digits = checksumOf(bytes, at).toString(16).padStart(8, "0");
  bytes.set(new TextEncoder().encode(digits), at);
  return bytes;
}

/**
 * Parses and verifies checkpoint bytes read from `path` (named in errors): format 2 (safetensors) or
 * format 1 (magic `ECHOFLOW`). A file shorter than its header says is named as truncated; one whose
 * checksum does not match as corrupt; then every rule of the safetensors format and the metadata above.
 */
export function decodeCheckpoint(
  bytes: Uint8Array,
  path: string,
): { header: CheckpointHeader; tensors: TensorGroups<HostTensor> } {
  const fail = (problem: string) => new CheckpointError(path, problem);
  if (bytes.length >= 8 && new TextDecoder().decode(bytes.subarray(0, 8)) === V1_MAGIC) {
    return decodeV1(bytes, path);
  }
  if (bytes.length < 9) throw fail(`file has only ${bytes.length} bytes`);
  if (bytes[8] !== 0x7b) {
    throw fail("not an echoflow checkpoint (neither a safetensors file nor echoflow's format 1)");
  }
  let read: { metadata: Record<string, string>; tensors: ReadTensor[] } | null = null;
  let problem: SafetensorsError | null = null;
  try {
    read = decodeSafetensors(bytes);
  } catch (e) {
    if (!(e instanceof SafetensorsError)) throw e;
    if (e.truncated) throw fail(e.message);
    problem = e;
  }
  // The checksum before any other complaint: a damaged file is named as such, whatever the damage broke.
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  const at = checksumAt(bytes, Number(8n + n > BigInt(bytes.length) ? BigInt(bytes.length) : 8n + n));
  if (at < 0) {
    throw fail(
      "the header has no echoflow checksum (a safetensors file that echoflow did not write, or damaged)",
    );
  }
  const saved = new TextDecoder().decode(bytes.subarray(at, at + 8));
  if (!/^[0-9a-f]{8}$/.test(saved) || parseInt(saved, 16) !== checksumOf(bytes, at)) {
    throw fail("checksum mismatch (the file is corrupt)");
  }
  if (problem || !read) throw fail(problem?.message ?? "unreadable");
  return fromSafetensors(read.metadata, read.tensors, fail);
}

/** The header and tensor groups of a verified safetensors checkpoint. */
function fromSafetensors(
  m: Record<string, string>,
  read: readonly ReadTensor[],
  fail: (problem: string) => CheckpointError,
): { header: CheckpointHeader; tensors: TensorGroups<HostTensor> } {
  if (m.format !== "echoflow") {
    throw fail(`a safetensors file with metadata format ${JSON.stringify(m.format)}, not "echoflow"`);
  }
  if (m.format_version !== String(FORMAT_VERSION)) {
    throw fail(`format version ${m.format_version}, this echoflow reads versions 1 and ${FORMAT_VERSION}`);
  }
  const text = (k: string): string => {
    if (typeof m[k] !== "string") throw fail(`metadata "${k}" is missing`);
    return m[k];
  };
  const json = (k: string): unknown => {
    try {
      return JSON.parse(text(k));
    } catch (e) {
      if (e instanceof CheckpointError) throw e;
      throw fail(`metadata "${k}" is not valid JSON`);
    }
  };
  const count = (k: string): number => {
    const v = json(k);
    if (!(typeof v === "number" && Number.isSafeInteger(v) && v >= 0)) throw fail(`metadata "${k}" is ${v}`);
    return v;
  };
  const object = <T>(k: string): T => {
    const v = json(k);
    if (typeof v !== "object" || v === null || Array.isArray(v)) {
      throw fail(`metadata "${k}" is not an object`);
    }
    return v as T;
  };
  const byGroup = {} as Record<Group, HostTensor[]>;
  const entries = {} as Record<Group, TensorEntry[]>;
  for (const g of GROUPS) (byGroup[g] = [], entries[g] = []);
  for (const t of read) {
    const g = GROUPS.find((g) => t.name.startsWith(PREFIX[g]));
    if (!g) {
      throw fail(`tensor "${t.name}" is in no group (${GROUPS.map((g) => PREFIX[g]).join(", ")})`);
    }
    const name = t.name.slice(PREFIX[g].length), dtype: DType = t.dtype === "F32" ? "float32" : "int32";
    byGroup[g].push({ name, shape: t.shape, dtype, data: t.data });
    entries[g].push({ name, shape: t.shape, dtype, offset: t.begin, length: t.end - t.begin });
  }
  const order = json("optimizer_order");
  const names = byGroup.optimizer.map((t) => t.name);
  if (
    !Array.isArray(order) || order.length !== names.length ||
    [...order].sort().join("\n") !== [...names].sort().join("\n")
  ) {
    throw fail(`metadata "optimizer_order" does not list the ${names.length} optimizer/ tensors`);
  }
  const pos = new Map(order.map((n, i) => [n as string, i]));
  for (const list of [byGroup.optimizer, entries.optimizer]) {
    list.sort((a, b) => pos.get(a.name)! - pos.get(b.name)!);
  }
  const header: CheckpointHeader = {
    experiment: text("experiment"),
    config: object("config"),
    epoch: count("epoch"),
    step: count("step"),
    best: object("best"),
    rng: object("rng"),
    backend: m.backend ?? null,
    ...(m.wall_s !== undefined ? { wall_s: json("wall_s") as number } : {}),
    ...(m.early_stop !== undefined ? { early_stop: object<EarlyStopState>("early_stop") } : {}),
    optimizerClass: text("optimizer_class"),
    created: text("created"),
    tensors: entries,
  };
  return { header, tensors: byGroup };
}

// ---------------------------------------------------------------------------------------------------
// Format 1, read only. Its layout (little-endian):
//
//   offset      size  content
//   0           8     magic "ECHOFLOW"
//   8           4     format version 1 (u32)
//   12          4     header length H (u32)
//   16          8     data length D (u64)
//   24          H     header: UTF-8 JSON ({@link CheckpointHeader}), then zero padding to a multiple of 8
//   24+H'       D     raw tensor data (float32 / int32, each tensor at its entry's `offset` into the data)
//   end-12      4     CRC-32 of every byte before it
//   end-8       8     total file length (u64)

const V1_MAGIC = "ECHOFLOW";
const V1_PREFIX = 24;
const V1_TRAILER = 12;

/** Parses and verifies format-1 bytes (the lengths name a truncated file; the CRC-32 a corrupt one). */
function decodeV1(
  bytes: Uint8Array,
  path: string,
): { header: CheckpointHeader; tensors: TensorGroups<HostTensor> } {
  const fail = (problem: string) => new CheckpointError(path, problem);
  if (bytes.length < V1_PREFIX) throw fail(`file has only ${bytes.length} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8, true);
  if (version !== 1) {
    throw fail(`format version ${version}, this echoflow reads versions 1 and ${FORMAT_VERSION}`);
  }
  const headerLen = view.getUint32(12, true);
  const dataLen = Number(view.getBigUint64(16, true));
  const dataStart = V1_PREFIX + Math.ceil(headerLen / 8) * 8;
  const expected = dataStart + dataLen + V1_TRAILER;
  if (bytes.length !== expected) {
    throw fail(`file has ${bytes.length} bytes, its header expects ${expected} (truncated or damaged)`);
  }
  if (Number(view.getBigUint64(expected - 8, true)) !== expected) throw fail("trailer length does not match");
  if (view.getUint32(expected - V1_TRAILER, true) !== crc32(bytes.subarray(0, expected - V1_TRAILER))) {
    throw fail("checksum mismatch (the file is corrupt)");
  }
  let header: CheckpointHeader;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(V1_PREFIX, V1_PREFIX + headerLen)));
  } catch (e) {
    throw fail(`header is not valid JSON (${e instanceof Error ? e.message : e})`);
  }
  const data = bytes.slice(dataStart, dataStart + dataLen);
  const read = (e: TensorEntry): HostTensor => {
    const count = e.shape.reduce((a, b) => a * b, 1);
    if (e.length !== count * 4 || e.offset + e.length > dataLen || e.offset % 4 !== 0) {
      throw fail(`tensor "${e.name}" has a bad extent (offset ${e.offset}, ${e.length} bytes)`);
    }
    const buf = data.buffer.slice(e.offset, e.offset + e.length);
    return { ...e, data: e.dtype === "int32" ? new Int32Array(buf) : new Float32Array(buf) };
  };
  const tensors = {} as Record<Group, HostTensor[]>;
  for (const g of GROUPS) tensors[g] = (header.tensors?.[g] ?? []).map(read);
  return { header, tensors };
}
