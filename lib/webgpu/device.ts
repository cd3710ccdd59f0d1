/**
 * Hand-written WGSL compute kernels on the device of tfjs's WebGPU backend, sharing its buffers.
 *
 * tfjs-backend-webgpu records its kernels into one pending command encoder and submits it in batches.
 * {@link GpuDevice.encode} appends a compute pass of ours (and buffer copies) to that same encoder and then
 * submits it, so our kernels run after every tfjs kernel issued before them and before every one issued
 * after, on tensors' own buffers: a tensor's data is read or written in place, without a copy through the
 * host. Pipelines are compiled once per WGSL source. Kernels never write a tensor's buffer in place unless
 * they made the tensor ({@link GpuDevice.empty}): tfjs keeps a host copy of a tensor it has read, which an
 * in-place write would leave stale.
 *
 * The backend's encoder and its buffer table are not part of tfjs's typed interface; {@link GpuDevice.current}
 * checks that they are there (tfjs-backend-webgpu 4.22, pinned in `deno.json`) and throws naming what is
 * missing otherwise, so a tfjs upgrade that moves them fails loudly (`tests/webgpu_flow_test.ts`).
 */
import * as tf from "@tensorflow/tfjs";

/** What we use of tfjs's `WebGPUBackend` (4.22). */
interface TfjsWebGpu {
  device: GPUDevice;
  tensorMap: { get(dataId: object): { resource?: unknown; shape: number[]; dtype: string } | undefined };
  uploadToGPU(dataId: object): void;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
  makeTensorInfo(shape: number[], dtype: string): tf.TensorInfo;
  commandEncoder: GPUCommandEncoder | null;
}

/** Part of a buffer to bind: `size` bytes from `offset` (a multiple of 256 bytes, WebGPU's alignment). */
export interface BufferRange {
  readonly buffer: GPUBuffer;
  readonly offset: number;
  readonly size: number;
}

/** One kernel launch: a pipeline, its buffers in binding order (the uniform buffer last), workgroups. */
export interface Dispatch {
  readonly pipeline: GPUComputePipeline;
  readonly buffers: readonly (GPUBuffer | BufferRange)[];
  readonly workgroups: readonly [number, number?, number?];
}

/** A copy of `size` bytes between buffers (`GPUCommandEncoder.copyBufferToBuffer`). */
export interface Copy {
  readonly from: GPUBuffer;
  readonly fromOffset: number;
  readonly to: GPUBuffer;
  readonly toOffset: number;
  readonly size: number;
}

/** Encoded in order by {@link GpuDevice.encode}: kernel launches and buffer copies. */
export type Command = Dispatch | Copy;

const STORAGE = 0x0080, COPY_SRC = 0x0004, COPY_DST = 0x0008, UNIFORM = 0x0040;

/** The tfjs WebGPU device, its pipelines, and the glue between tensors and buffers (module doc). */
export class GpuDevice {
  static #instance: { backend: TfjsWebGpu; device: GpuDevice } | null = null;
  readonly #pipelines = new Map<string, GPUComputePipeline>();

  private constructor(readonly device: GPUDevice, readonly backend: TfjsWebGpu) {}

  /** The device of tfjs's active backend, or null when that is not WebGPU. */
  static current(): GpuDevice | null {
    if (tf.getBackend() !== "webgpu") return null;
    const backend = tf.backend() as unknown as TfjsWebGpu;
    if (GpuDevice.#instance?.backend === backend) return GpuDevice.#instance.device;
    const missing = [
      "device",
      "tensorMap",
      "uploadToGPU",
      "ensureCommandEncoderReady",
      "endComputePassEncoder",
    ]
      .concat(["submitQueue", "makeTensorInfo"])
      .filter((k) => (backend as unknown as Record<string, unknown>)[k] === undefined);
    if (missing.length) {
      throw new Error(`GpuDevice: tfjs's WebGPU backend has no ${missing.join(", ")} (tfjs 4.22 expected)`);
    }
    const device = new GpuDevice(backend.device, backend);
    GpuDevice.#instance = { backend, device };
    return device;
  }

  /** The compute pipeline of `source` (entry point `main`), compiled on first use; `label` names it. */
  pipeline(source: string, label: string): GPUComputePipeline {
    let p = this.#pipelines.get(source);
    if (!p) {
      const module = this.device.createShaderModule({ code: source, label });
      p = this.device.createComputePipeline({
        label,
        layout: "auto",
        compute: { module, entryPoint: "main" },
      });
      this.#pipelines.set(source, p);
    }
    return p;
  }

  /** A storage buffer of at least `bytes` bytes, owned by the caller (who destroys it). */
  storage(bytes: number): GPUBuffer {
    return this.device.createBuffer({
      size: Math.max(16, align4(bytes)),
      usage: STORAGE | COPY_SRC | COPY_DST,
    });
  }

  /** A uniform buffer of `bytes` bytes (written with {@link write}). */
  uniform(bytes: number): GPUBuffer {
    return this.device.createBuffer({
      size: Math.max(16, Math.ceil(bytes / 16) * 16),
      usage: UNIFORM | COPY_DST,
    });
  }

  /** Writes `data` to `buffer` at `offset`, ordered before the next {@link encode}'s commands. */
  write(buffer: GPUBuffer, data: ArrayBufferView<ArrayBuffer>, offset = 0): void {
    this.device.queue.writeBuffer(buffer, offset, data.buffer, data.byteOffset, data.byteLength);
  }

  /** The buffer holding `t`'s data on the device (uploading host-side data first). */
  bufferOf(t: tf.TensorInfo): GPUBuffer {
    if (t.dtype !== "float32") throw new Error(`GpuDevice.bufferOf: a ${t.dtype} tensor (float32 expected)`);
    this.backend.uploadToGPU(t.dataId);
    const resource = this.backend.tensorMap.get(t.dataId)?.resource;
    if (!(resource instanceof GPUBuffer)) throw new Error("GpuDevice.bufferOf: the tensor has no GPU buffer");
    return resource;
  }

  /** A new float32 tensor of `shape` with an uninitialised device buffer, and that buffer. */
  empty<R extends tf.Rank>(shape: number[]): { tensor: tf.Tensor<R>; buffer: GPUBuffer } {
    const info = this.backend.makeTensorInfo(shape, "float32");
    const tensor = tf.engine().makeTensorFromTensorInfo(info) as tf.Tensor<R>;
    return { tensor, buffer: this.bufferOf(tensor) };
  }

  /**
   * Appends `commands` to tfjs's pending command encoder (after everything tfjs has recorded) and submits
   * it: one queue submission, no read-back.
   */
  encode(commands: readonly Command[]): void {
    const b = this.backend;
    b.ensureCommandEncoderReady();
    b.endComputePassEncoder();
    const encoder = b.commandEncoder;
    if (!encoder) throw new Error("GpuDevice.encode: tfjs's WebGPU backend has no command encoder");
    let pass: GPUComputePassEncoder | null = null;
    for (const c of commands) {
      if ("pipeline" in c) {
        pass ??= encoder.beginComputePass();
        const layout = c.pipeline.getBindGroupLayout(0);
        const entries = c.buffers.map((b, binding) => ({
          binding,
          resource: b instanceof GPUBuffer ? { buffer: b } : b,
        }));
        pass.setPipeline(c.pipeline);
        pass.setBindGroup(0, this.device.createBindGroup({ layout, entries }));
        const [x, y = 1, z = 1] = c.workgroups;
        pass.dispatchWorkgroups(x, y, z);
      } else {
        pass?.end();
        pass = null;
        encoder.copyBufferToBuffer(c.from, c.fromOffset, c.to, c.toOffset, c.size);
      }
    }
    pass?.end();
    b.submitQueue();
  }
}

function align4(bytes: number): number {
  return Math.ceil(bytes / 4) * 4;
}
