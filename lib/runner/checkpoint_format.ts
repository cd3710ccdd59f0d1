/**
 * The checkpoint file format: one self-checking binary file.
 *
 *   offset      size  content (little-endian)
 *   0           8     magic "ECHOFLOW"
 *   8           4     format version (u32)
 *   12          4     header length H (u32)
 *   16          8     data length D (u64)
 *   24          H     header: UTF-8 JSON ({@link CheckpointHeader}), then zero padding to a multiple of 8
 *   24+H'       D     raw tensor data (float32 / int32, each tensor at its entry's `offset` into the data)
 *   end-12      4     CRC-32 of every byte before it
 *   end-8       8     total file length (u64)
 *
 * The lengths in the prefix give the expected file size, so a truncated file is named as such; the
 * CRC-32 (node:zlib, the zlib polynomial) catches flipped bytes anywhere in the payload.
 */
import { crc32 } from "node:zlib";
import type { ConfigValue } from "../config.ts";
import type { RngState } from "../rng.ts";
import type { EarlyStopState } from "./early_stop.ts";

/** The first 8 bytes of every checkpoint. */
export const MAGIC = "ECHOFLOW";
/** The format version this code writes and reads. */
export const VERSION = 1;
const PREFIX = 24;
const TRAILER = 12;

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

/** The JSON header: the metadata plus where each tensor lies in the data section. */
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

const GROUPS = ["params", "buffers", "optimizer", "optimizerExtra"] as const;

/** Serialises a checkpoint to bytes (see the module doc for the layout). */
export function encodeCheckpoint(meta: CheckpointMeta, tensors: TensorGroups<HostTensor>): Uint8Array {
  let dataLen = 0;
  const entries = {} as Record<(typeof GROUPS)[number], TensorEntry[]>;
  for (const g of GROUPS) {
    entries[g] = tensors[g].map((t) => {
      const e = {
        name: t.name,
        shape: [...t.shape],
        dtype: t.dtype,
        offset: dataLen,
        length: t.data.byteLength,
      };
      dataLen += t.data.byteLength;
      return e;
    });
  }
  const header = new TextEncoder().encode(JSON.stringify({ ...meta, tensors: entries }));
  const headerPadded = Math.ceil(header.length / 8) * 8;
  const total = PREFIX + headerPadded + dataLen + TRAILER;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  out.set(new TextEncoder().encode(MAGIC), 0);
  view.setUint32(8, VERSION, true);
  view.setUint32(12, header.length, true);
  view.setBigUint64(16, BigInt(dataLen), true);
  out.set(header, PREFIX);
  const dataStart = PREFIX + headerPadded;
  for (const g of GROUPS) {
    tensors[g].forEach((t, i) => {
      out.set(
        new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
        dataStart + entries[g][i].offset,
      );
    });
  }
  view.setUint32(total - TRAILER, crc32(out.subarray(0, total - TRAILER)), true);
  view.setBigUint64(total - 8, BigInt(total), true);
  return out;
}

/** Parses and verifies checkpoint bytes read from `path` (named in errors). */
export function decodeCheckpoint(
  bytes: Uint8Array,
  path: string,
): { header: CheckpointHeader; tensors: TensorGroups<HostTensor> } {
  const fail = (problem: string) => new CheckpointError(path, problem);
  if (bytes.length < PREFIX || new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) {
    throw fail(bytes.length < PREFIX ? `file has only ${bytes.length} bytes` : "not an echoflow checkpoint");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8, true);
  if (version !== VERSION) throw fail(`format version ${version}, this echoflow reads version ${VERSION}`);
  const headerLen = view.getUint32(12, true);
  const dataLen = Number(view.getBigUint64(16, true));
  const dataStart = PREFIX + Math.ceil(headerLen / 8) * 8;
  const expected = dataStart + dataLen + TRAILER;
  if (bytes.length !== expected) {
    throw fail(`file has ${bytes.length} bytes, its header expects ${expected} (truncated or damaged)`);
  }
  if (Number(view.getBigUint64(expected - 8, true)) !== expected) throw fail("trailer length does not match");
  if (view.getUint32(expected - TRAILER, true) !== crc32(bytes.subarray(0, expected - TRAILER))) {
    throw fail("checksum mismatch (the file is corrupt)");
  }
  let header: CheckpointHeader;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(PREFIX, PREFIX + headerLen)));
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
  const tensors = {} as Record<(typeof GROUPS)[number], HostTensor[]>;
  for (const g of GROUPS) tensors[g] = (header.tensors?.[g] ?? []).map(read);
  return { header, tensors };
}
