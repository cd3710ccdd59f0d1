import assert from "node:assert/strict";
import { mib, peakRssBytes } from "../lib/runner/memory.ts";

Deno.test("peakRssBytes() is this process's high-water mark: at least what it holds now, and it grows", () => {
  const before = peakRssBytes();
  assert.ok(before !== null && before >= Deno.memoryUsage().rss * 0.9, `${before}`);
  // Touch enough to go 128 MiB past the old mark (what is held now, plus the gap to the mark, plus 128).
  const big = new Uint8Array(before! - Deno.memoryUsage().rss + 128 * 2 ** 20).fill(1);
  const after = peakRssBytes()!;
  assert.ok(after >= before! + 60 * 2 ** 20, `${mib(before)} -> ${mib(after)} after ${big.length} bytes`);
  assert.equal(mib(3 * 2 ** 20), "3 MiB");
  assert.equal(mib(null), "unknown");
});
