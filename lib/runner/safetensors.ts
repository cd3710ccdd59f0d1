/**
 * The safetensors file format (Hugging Face, https://github.com/huggingface/safetensors, "Format"), the
 * one the PyTorch ecosystem reads and writes:
 *
 *   offset   size  content
 *   0        8     N, the header length (unsigned 64-bit little-endian)
 *   8        N     header: a UTF-8 JSON object; each tensor's name maps to
 *                  `{"dtype": "F32", "shape": [2, 3], "data_offsets": [BEGIN, END]}`, and the optional key
 *                  `"__metadata__"` to a map of strings to strings; trailing spaces may pad it
 *   8+N      ...   the byte buffer: every tensor's values, row-major, little-endian, at
 *                  `[BEGIN, END)` relative to the buffer's start
 *
 * The specification's rules, all checked by {@link decodeSafetensors}: the header is at most 100 MB; a
 * tensor's byte size is its element count times its dtype's size; the tensors cover the buffer entirely,
 * without holes or overlaps (no unindexed bytes: no polyglot files); an empty shape is a scalar. The writer
 * pads the header with spaces to a multiple of 8 bytes, as the reference implementation does, so the buffer
 * starts 8-aligned. Only the dtypes echoflow stores are read and written: `F32` and `I32`.
 */

/** The safetensors dtypes echoflow stores (float32 and int32, 4 bytes each). */
export type SafeDType = "F32" | "I32";

/** The bytes per element of each dtype. */
const ITEM_SIZE: Readonly<Record<SafeDType, number>> = { F32: 4, I32: 4 };

/** The specification's limit on the header length. */
export const MAX_HEADER_BYTES = 100_000_000;

/** A tensor to write, or one that was read. */
export interface SafeTensor {
  readonly name: string;
  readonly dtype: SafeDType;
  readonly shape: readonly number[];
  readonly data: Float32Array | Int32Array;
}

/** A tensor read from a file, with where it lay in the byte buffer. */
export interface ReadTensor extends SafeTensor {
  readonly begin: number;
  readonly end: number;
}

/** A file that breaks the format; the message says what is wrong (the caller names the file). */
export class SafetensorsError extends Error {
  override name = "SafetensorsError";
  /** True when the file is shorter than its header says (truncated). */
  constructor(message: string, readonly truncated = false) {
    super(message);
  }
}

/** Whether this machine stores numbers little-endian (every platform Deno runs on does). */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The little-endian bytes of `data` (a view when the host is little-endian, a swapped copy otherwise). */
function leBytes(data: Float32Array | Int32Array): Uint8Array {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (LITTLE_ENDIAN) return bytes;
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i += 4) {
    for (let k = 0; k < 4; k++) out[i + k] = bytes[i + 3 - k];
  }
  return out;
}

const count = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * The safetensors bytes of `tensors` (laid out in the given order) with `metadata`. The header object's
 * keys come in the order `__metadata__`, then the tensors; a metadata map whose first key is a fixed
 * string therefore sits at a fixed byte offset (echoflow's checksum relies on it).
 */
export function encodeSafetensors(
  tensors: readonly SafeTensor[],
  metadata: Readonly<Record<string, string>>,
): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let end = 0;
  for (const t of tensors) {
    if (t.name === "__metadata__" || t.name in header) {
      throw new Error(`encodeSafetensors: tensor name "${t.name}" is reserved or repeated`);
    }
    const bytes = count(t.shape) * ITEM_SIZE[t.dtype];
    if (t.data.byteLength !== bytes) {
      throw new Error(
        `encodeSafetensors: tensor "${t.name}" of shape [${t.shape}] needs ${bytes} bytes, got ${t.data.byteLength}`,
      );
    }
    header[t.name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [end, end + bytes] };
    end += bytes;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const n = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + n + end);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  out.fill(0x20, 8, 8 + n); // the padding: spaces, which JSON allows after the object
  out.set(json, 8);
  let at = 8 + n;
  for (const t of tensors) {
    out.set(leBytes(t.data), at);
    at += t.data.byteLength;
  }
  return out;
}

/** Where the header ends and the buffer starts: `8 + N`; throws when the prefix says the file is cut. */
export function headerEnd(bytes: Uint8Array): number {
  if (bytes.length < 8) throw new SafetensorsError(`file has only ${bytes.length} bytes`, true);
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsError(`header length ${n} is beyond the format's ${MAX_HEADER_BYTES} bytes`);
  }
  if (8 + Number(n) > bytes.length) {
    throw new SafetensorsError(
      `file has ${bytes.length} bytes, its header expects at least ${8 + Number(n)} (truncated or damaged)`,
      true,
    );
  }
  return 8 + Number(n);
}

const isCount = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

/** Parses and checks the header JSON (see the module doc); entries in buffer order. */
function parseHeader(text: string): {
  metadata: Record<string, string>;
  entries: { name: string; dtype: SafeDType; shape: number[]; begin: number; end: number }[];
} {
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw new SafetensorsError(`header is not valid JSON (${e instanceof Error ? e.message : e})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    throw new SafetensorsError("header is not a JSON object");
  }
  const metadata: Record<string, string> = {};
  const entries = [];
  for (const [name, v] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (typeof v !== "object" || v === null || Array.isArray(v)) {
        throw new SafetensorsError("__metadata__ is not a JSON object");
      }
      for (const [k, s] of Object.entries(v)) {
        if (typeof s !== "string") throw new SafetensorsError(`__metadata__ "${k}" is not a string`);
        metadata[k] = s;
      }
      continue;
    }
    const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e !== "object" || e === null) throw new SafetensorsError(`tensor "${name}" is not an object`);
    if (e.dtype !== "F32" && e.dtype !== "I32") {
      throw new SafetensorsError(
        `tensor "${name}" has dtype ${JSON.stringify(e.dtype)}; echoflow reads F32 and I32`,
      );
    }
    if (!Array.isArray(e.shape) || !e.shape.every(isCount)) {
      throw new SafetensorsError(`tensor "${name}" has shape ${JSON.stringify(e.shape)}`);
    }
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every(isCount) || off[1] < off[0]) {
      throw new SafetensorsError(`tensor "${name}" has data_offsets ${JSON.stringify(off)}`);
    }
    const want = count(e.shape) * ITEM_SIZE[e.dtype];
    if (off[1] - off[0] !== want) {
      throw new SafetensorsError(
        `tensor "${name}" spans ${off[1] - off[0]} bytes, its dtype and shape [${e.shape}] need ${want}`,
      );
    }
    entries.push({ name, dtype: e.dtype as SafeDType, shape: e.shape, begin: off[0], end: off[1] });
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  return { metadata, entries };
}

/**
 * Reads safetensors `bytes`: the metadata and every tensor (values copied out, in buffer order). Throws a
 * {@link SafetensorsError} saying which rule of the format the file breaks.
 */
export function decodeSafetensors(
  bytes: Uint8Array,
): { metadata: Record<string, string>; tensors: ReadTensor[] } {
  const start = headerEnd(bytes);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, start));
  } catch {
    throw new SafetensorsError("header is not valid UTF-8");
  }
  const { metadata, entries } = parseHeader(text);
  const size = bytes.length - start;
  let at = 0;
  for (const e of entries) {
    if (e.begin !== at) {
      throw new SafetensorsError(
        e.begin > at
          ? `bytes ${at}..${e.begin} of the buffer belong to no tensor (before "${e.name}")`
          : `tensor "${e.name}" overlaps the one before it`,
      );
    }
    at = e.end;
  }
  if (at > size) {
    throw new SafetensorsError(
      `file has ${bytes.length} bytes, its header expects ${start + at} (truncated or damaged)`,
      true,
    );
  }
  if (at < size) throw new SafetensorsError(`${size - at} bytes after the last tensor belong to no tensor`);
  const tensors = entries.map((e): ReadTensor => {
    // A copy: aligned for the typed array, and independent of the file's bytes.
    const raw = bytes.slice(start + e.begin, start + e.end);
    if (!LITTLE_ENDIAN) raw.set(leBytes(new Int32Array(raw.buffer)));
    const data = e.dtype === "I32" ? new Int32Array(raw.buffer) : new Float32Array(raw.buffer);
    return { ...e, data };
  });
  return { metadata, tensors };
}
