/**
 * The host kernels' source in the WebAssembly text format (WAT), assembled by wabt (`kernels.ts`). What each
 * kernel computes, and the preconditions its callers must meet, are in `kernels.ts` beside the checked
 * wrappers; `deno task wat` writes the assembled modules back as text (`bench/wat_listing.ts`).
 *
 * The text is WAT with three kinds of `${...}` insertions, each expanding to plain WAT: `${madd(a, b, c)}`
 * (`a b + c` on lanes: `f32x4.relaxed_madd` in the fused variant, a product and a sum otherwise),
 * `${splat(x)}` (a `v128.const` with four copies of the float32 nearest `x`) and `${perAcc(...)}` (one line
 * per accumulator of the product's 4 x 8 block, `$acc<row><half>`, halves L and R of 4 columns each).
 *
 * Layout: float32 row-major matrices in the one exported memory, addresses and strides in bytes. Loops
 * compare signed (`i32.ge_s`), as sizes are far below 2^31.
 */

/** `a b + c` on four lanes, as WAT: fused (relaxed SIMD) or unfused. */
type Madd = (a: string, b: string, c: string) => string;
const fusedMadd: Madd = (a, b, c) => `(f32x4.relaxed_madd ${a} ${b} ${c})`;
const unfusedMadd: Madd = (a, b, c) => `(f32x4.add ${c} (f32x4.mul ${a} ${b}))`;

/**
 * Four copies of the float32 nearest `x`, written with the fewest digits that still give that float32 (so
 * each constant is exactly `Math.fround(x)`, the value the Cephes sources below mean).
 */
const splat = (x: number): string => {
  const want = Math.fround(x);
  let text = String(want);
  for (let digits = 1; digits <= 9; digits++) {
    const shorter = want.toPrecision(digits);
    if (Math.fround(Number(shorter)) === want) {
      text = String(Number(shorter));
      break;
    }
  }
  return `(v128.const f32x4 ${text} ${text} ${text} ${text})`;
};

const ZERO = "(v128.const f32x4 0 0 0 0)";

/** One line per accumulator of the product's block (rows 0-3, halves L and R), joined. */
const perAcc = (line: (acc: string, row: number, half: "L" | "R") => string, indent: string): string =>
  [0, 1, 2, 3].flatMap((r) => (["L", "R"] as const).map((h) => line(`$acc${r}${h}`, r, h))).join(
    `\n${indent}`,
  );

/** exp's range reduction: `ln 2` split in two so `x - n ln 2` is exact (Cephes `expf`). */
const LOG2E = 1.44269504088896341, LN2_HI = 0.693359375, LN2_LO = -2.12194440e-4;
/** `e^r = 1 + r + r^2 P(r)` on `|r| <= ln 2 / 2` (Cephes `expf`), highest degree first. */
const EXP_POLY = [
  1.9875691500e-4,
  1.3981999507e-3,
  8.3334519073e-3,
  4.1665795894e-2,
  1.6666665459e-1,
  5.0000001201e-1,
];
/** `tanh(x) = x + x^3 P(x^2)` on `|x| < 0.625` (Cephes `tanhf`), highest degree first. */
const TANH_POLY = [
  -5.70498872745e-3,
  2.06390887954e-2,
  -5.37397155531e-2,
  1.33314422036e-1,
  -3.33332819422e-1,
];

/** Horner's rule `p = ((c0 x + c1) x + ...) + c_last` into local `$p`, as WAT lines. */
const horner = (x: string, coefficients: readonly number[], indent: string): string =>
  [
    `(local.set $p ${splat(coefficients[0])})`,
    ...coefficients.slice(1).map((c) =>
      `(local.set $p (f32x4.add (f32x4.mul (local.get $p) ${x}) ${splat(c)}))`
    ),
  ].join(`\n${indent}`);

/**
 * `exp` on four lanes (Cephes `expf`) as WAT lines that set local `out` from the v128 expression `x`,
 * with scratch locals `$expN` and `$p` (`out` may be a local that `x` reads): `x = n ln 2 + r` with
 * `n = floor(x log2 e + 1/2)`, `e^x = 2^n e^r`; `x` is clamped to [-87.3, 88.3] so that `2^n` stays a
 * normal float. Written out in place rather than called: a call per four lanes made `couplingForward`
 * ~15% slower (V8 does not inline it).
 */
const expInto = (out: string, x: string, what: string, indent: string): string =>
  [
    `;; ${out} = exp(${what}): x = n ln 2 + r, e^r by a polynomial, 2^n by exponent bits.`,
    `(local.set ${out} (f32x4.pmin (f32x4.pmax ${x} ${splat(-87.3)}) ${splat(88.3)}))`,
    `(local.set $expN (f32x4.floor (f32x4.add (f32x4.mul (local.get ${out}) ${splat(LOG2E)}) ${
      splat(0.5)
    })))`,
    `(local.set ${out}`,
    `  (f32x4.sub`,
    `    (f32x4.sub (local.get ${out}) (f32x4.mul (local.get $expN) ${splat(LN2_HI)}))`,
    `    (f32x4.mul (local.get $expN) ${splat(LN2_LO)})))`,
    horner(`(local.get ${out})`, EXP_POLY, indent),
    `;; 2^n: (n + 127) << 23 read as float bits.`,
    `(local.set $expN`,
    `  (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $expN)) (v128.const i32x4 127 127 127 127)) (i32.const 23)))`,
    `(local.set ${out}`,
    `  (f32x4.mul`,
    `    (f32x4.add`,
    `      (f32x4.add (f32x4.mul (local.get $p) (f32x4.mul (local.get ${out}) (local.get ${out}))) (local.get ${out}))`,
    `      ${splat(1)})`,
    `    (local.get $expN)))`,
  ].join(`\n${indent}`);

/**
 * `tanh` on four lanes (Cephes `tanhf`) as WAT lines setting local `out` from local `x` (another local),
 * with scratch locals `$tanhZ`, `$expN`, `$p`: `x + x^3 P(x^2)` for `|x| < 0.625`, otherwise
 * `sign(x) (1 - 2 / (e^(2 |x|) + 1))` with `|x|` capped at 44, where tanh is 1 in float32.
 */
const tanhInto = (out: string, x: string, indent: string): string =>
  [
    `;; ${out} = tanh(${x}): sign(x) (1 - 2 / (e^(2 min(|x|, 44)) + 1)), or x + x^3 P(x^2) where |x| < 0.625.`,
    expInto(
      out,
      `(f32x4.mul (f32x4.pmin (f32x4.abs (local.get ${x})) ${splat(44)}) ${splat(2)})`,
      `2 min(|${x}|, 44)`,
      indent,
    ),
    `(local.set ${out} (f32x4.sub ${splat(1)} (f32x4.div ${splat(2)} (f32x4.add (local.get ${out}) ${
      splat(1)
    }))))`,
    `(local.set ${out}`,
    `  (v128.or (local.get ${out})`,
    `    (v128.and (local.get ${x}) (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000))))`,
    `(local.set $tanhZ (f32x4.mul (local.get ${x}) (local.get ${x})))`,
    horner("(local.get $tanhZ)", TANH_POLY, indent),
    `(local.set ${out}`,
    `  (v128.bitselect`,
    `    (f32x4.add (local.get ${x}) (f32x4.mul (f32x4.mul (local.get ${x}) (local.get $tanhZ)) (local.get $p)))`,
    `    (local.get ${out})`,
    `    (f32x4.lt (f32x4.abs (local.get ${x})) ${splat(0.625)})))`,
  ].join(`\n${indent}`);

/** The kernels' module as WAT; `fma`: products by `f32x4.relaxed_madd` (needs relaxed SIMD). */
export function kernelsWat(fma: boolean): string {
  const madd = fma ? fusedMadd : unfusedMadd;
  return `;; echoflow host kernels (lib/wasm/kernels_wat.ts), ${
    fma ? "fused multiply-adds (relaxed SIMD)" : "unfused"
  }
(module
  (memory (export "memory") 1)

  ;; C[i, j] = act(C0[i, j] + bias[j] + sum_k A[i, k] B[k, j]), i < m (a multiple of 4), j < n (of 8).
  ;; A[i, k] at a + i aRow + k aCol; B[k, j] at b + k bRow + 4 j; C and C0 likewise with cRow, c0Row.
  ;; c0 = 0 / bias = 0: none; relu != 0: max(., 0); columnsOuter != 0: column blocks outside row blocks.
  (func (export "gemm")
    (param $m i32) (param $k i32) (param $n i32) (param $a i32) (param $aRow i32) (param $aCol i32)
    (param $b i32) (param $bRow i32) (param $c i32) (param $cRow i32) (param $c0 i32) (param $c0Row i32)
    (param $bias i32) (param $relu i32) (param $columnsOuter i32)
    (local $i i32) (local $jb i32) (local $outer i32) (local $inner i32)
    (local $outerEnd i32) (local $outerStep i32) (local $innerEnd i32) (local $innerStep i32)
    (local $kk i32) (local $pa i32) (local $pb i32) (local $p i32) (local $aRow2 i32) (local $aRow3 i32)
    (local $acc0L v128) (local $acc0R v128) (local $acc1L v128) (local $acc1R v128)
    (local $acc2L v128) (local $acc2R v128) (local $acc3L v128) (local $acc3R v128)
    (local $b0 v128) (local $b1 v128) (local $av v128)
    (local.set $aRow2 (i32.add (local.get $aRow) (local.get $aRow)))
    (local.set $aRow3 (i32.add (local.get $aRow2) (local.get $aRow)))
    ;; Blocks of 4 rows (i) and 8 columns (jb: byte offset of the column block), in either order.
    (local.set $outerEnd (select (i32.mul (local.get $n) (i32.const 4)) (local.get $m) (local.get $columnsOuter)))
    (local.set $outerStep (select (i32.const 32) (i32.const 4) (local.get $columnsOuter)))
    (local.set $innerEnd (select (local.get $m) (i32.mul (local.get $n) (i32.const 4)) (local.get $columnsOuter)))
    (local.set $innerStep (select (i32.const 4) (i32.const 32) (local.get $columnsOuter)))
    (local.set $outer (i32.const 0))
    (block $outerDone (loop $outerLoop
      (br_if $outerDone (i32.ge_s (local.get $outer) (local.get $outerEnd)))
      (local.set $inner (i32.const 0))
      (block $innerDone (loop $innerLoop
        (br_if $innerDone (i32.ge_s (local.get $inner) (local.get $innerEnd)))
        (local.set $i (select (local.get $inner) (local.get $outer) (local.get $columnsOuter)))
        (local.set $jb (select (local.get $outer) (local.get $inner) (local.get $columnsOuter)))

        ;; The block's initial value: C0's entries, or zeros.
        (if (local.get $c0)
          (then
            (local.set $p (i32.add (i32.add (local.get $c0) (i32.mul (local.get $i) (local.get $c0Row))) (local.get $jb)))
            ${
    [0, 1, 2, 3].map((r) =>
      `(local.set $acc${r}L (v128.load (local.get $p)))
            (local.set $acc${r}R (v128.load offset=16 (local.get $p)))` +
      (r < 3 ? `\n            (local.set $p (i32.add (local.get $p) (local.get $c0Row)))` : "")
    ).join("\n            ")
  })
          (else
            ${perAcc((acc) => `(local.set ${acc} ${ZERO})`, "            ")}))
        (if (local.get $bias)
          (then
            (local.set $b0 (v128.load (i32.add (local.get $bias) (local.get $jb))))
            (local.set $b1 (v128.load offset=16 (i32.add (local.get $bias) (local.get $jb))))
            ${
    perAcc((acc, _, h) =>
      `(local.set ${acc} (f32x4.add (local.get ${acc}) (local.get $b${h === "L" ? 0 : 1})))`, "            ")
  }))

        ;; The block's sum over k: rows i..i+3 of A (one float each, splat) times 8 columns of B's row k.
        (local.set $pa (i32.add (local.get $a) (i32.mul (local.get $i) (local.get $aRow))))
        (local.set $pb (i32.add (local.get $b) (local.get $jb)))
        (local.set $kk (i32.const 0))
        (block $kDone (loop $kLoop
          (br_if $kDone (i32.ge_s (local.get $kk) (local.get $k)))
          (local.set $b0 (v128.load (local.get $pb)))
          (local.set $b1 (v128.load offset=16 (local.get $pb)))
          ${
    [
      "(local.get $pa)",
      ...[1, 2, 3].map((r) => `(i32.add (local.get $pa) (local.get $aRow${r === 1 ? "" : r}))`),
    ]
      .map((addr, r) =>
        `(local.set $av (v128.load32_splat ${addr}))
          (local.set $acc${r}L ${madd("(local.get $av)", "(local.get $b0)", `(local.get $acc${r}L)`)})
          (local.set $acc${r}R ${madd("(local.get $av)", "(local.get $b1)", `(local.get $acc${r}R)`)})`
      ).join("\n          ")
  }
          (local.set $pa (i32.add (local.get $pa) (local.get $aCol)))
          (local.set $pb (i32.add (local.get $pb) (local.get $bRow)))
          (local.set $kk (i32.add (local.get $kk) (i32.const 1)))
          (br $kLoop)))

        (if (local.get $relu)
          (then
            ${perAcc((acc) => `(local.set ${acc} (f32x4.pmax (local.get ${acc}) ${ZERO}))`, "            ")}))
        (local.set $p (i32.add (i32.add (local.get $c) (i32.mul (local.get $i) (local.get $cRow))) (local.get $jb)))
        ${
    [0, 1, 2, 3].map((r) =>
      `(v128.store (local.get $p) (local.get $acc${r}L))
        (v128.store offset=16 (local.get $p) (local.get $acc${r}R))` +
      (r < 3 ? `\n        (local.set $p (i32.add (local.get $p) (local.get $cRow)))` : "")
    ).join("\n        ")
  }

        (local.set $inner (i32.add (local.get $inner) (local.get $innerStep)))
        (br $innerLoop)))
      (local.set $outer (i32.add (local.get $outer) (local.get $outerStep)))
      (br $outerLoop))))

  ;; On [rows, n] matrices, in place: s <- tanh(s) (s holds the pre-activation), sm = s rescale,
  ;; e = exp(-sm), d = z - mu, z <- d e, logDet[r] += sum_j sm[r, j]. n: a multiple of 4.
  (func (export "couplingForward")
    (param $rows i32) (param $n i32) (param $s i32) (param $mu i32) (param $z i32) (param $rescale i32)
    (param $d i32) (param $e i32) (param $logDet i32)
    (local $r i32) (local $jb i32) (local $off i32) (local $rowBytes i32) (local $rowOff i32) (local $ld i32)
    (local $pre v128) (local $x v128) (local $sm v128) (local $ev v128) (local $dv v128) (local $total v128)
    (local $expN v128) (local $p v128) (local $tanhZ v128)
    (local.set $rowBytes (i32.mul (local.get $n) (i32.const 4)))
    (local.set $r (i32.const 0))
    (block $rowsDone (loop $eachRow
      (br_if $rowsDone (i32.ge_s (local.get $r) (local.get $rows)))
      (local.set $rowOff (i32.mul (local.get $r) (local.get $rowBytes)))
      (local.set $total ${ZERO})
      (local.set $jb (i32.const 0))
      (block $lanesDone (loop $eachLanes
        (br_if $lanesDone (i32.ge_s (local.get $jb) (local.get $rowBytes)))
        (local.set $off (i32.add (local.get $rowOff) (local.get $jb)))
        (local.set $pre (v128.load (i32.add (local.get $s) (local.get $off))))
        ${tanhInto("$x", "$pre", "        ")}
        (v128.store (i32.add (local.get $s) (local.get $off)) (local.get $x))
        (local.set $sm (f32x4.mul (local.get $x) (v128.load (i32.add (local.get $rescale) (local.get $jb)))))
        ${expInto("$ev", "(f32x4.neg (local.get $sm))", "-$sm", "        ")}
        (v128.store (i32.add (local.get $e) (local.get $off)) (local.get $ev))
        (local.set $dv
          (f32x4.sub
            (v128.load (i32.add (local.get $z) (local.get $off)))
            (v128.load (i32.add (local.get $mu) (local.get $off)))))
        (v128.store (i32.add (local.get $d) (local.get $off)) (local.get $dv))
        (v128.store (i32.add (local.get $z) (local.get $off)) (f32x4.mul (local.get $dv) (local.get $ev)))
        (local.set $total (f32x4.add (local.get $total) (local.get $sm)))
        (local.set $jb (i32.add (local.get $jb) (i32.const 16)))
        (br $eachLanes)))
      ;; logDet[r] += the sum of total's four lanes.
      (local.set $ld (i32.add (local.get $logDet) (i32.mul (local.get $r) (i32.const 4))))
      (f32.store (local.get $ld)
        (f32.add
          (f32.load (local.get $ld))
          (f32.add
            (f32.add (f32x4.extract_lane 0 (local.get $total)) (f32x4.extract_lane 1 (local.get $total)))
            (f32.add (f32x4.extract_lane 2 (local.get $total)) (f32x4.extract_lane 3 (local.get $total))))))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $eachRow))))

  ;; The gradient of couplingForward and of -sum sm weighted by the row's upstream gradient g[r]:
  ;; t = dz e (stored over dz: the gradient of the changed part's input; -t is that of mu),
  ;; dsm = -g - t d, drescale[j] += sum_r dsm s, dpre = dsm rescale (1 - s^2) (of the pre-tanh slope).
  (func (export "couplingBackward")
    (param $rows i32) (param $n i32) (param $dz i32) (param $e i32) (param $d i32) (param $s i32)
    (param $rescale i32) (param $g i32) (param $dpre i32) (param $drescale i32)
    (local $r i32) (local $jb i32) (local $off i32) (local $rowBytes i32) (local $rowOff i32)
    (local $ng v128) (local $t v128) (local $sv v128) (local $dsm v128)
    (local.set $rowBytes (i32.mul (local.get $n) (i32.const 4)))
    (local.set $r (i32.const 0))
    (block $rowsDone (loop $eachRow
      (br_if $rowsDone (i32.ge_s (local.get $r) (local.get $rows)))
      (local.set $rowOff (i32.mul (local.get $r) (local.get $rowBytes)))
      (local.set $ng (f32x4.neg (f32x4.splat (f32.load (i32.add (local.get $g) (i32.mul (local.get $r) (i32.const 4)))))))
      (local.set $jb (i32.const 0))
      (block $lanesDone (loop $eachLanes
        (br_if $lanesDone (i32.ge_s (local.get $jb) (local.get $rowBytes)))
        (local.set $off (i32.add (local.get $rowOff) (local.get $jb)))
        (local.set $t
          (f32x4.mul
            (v128.load (i32.add (local.get $dz) (local.get $off)))
            (v128.load (i32.add (local.get $e) (local.get $off)))))
        (v128.store (i32.add (local.get $dz) (local.get $off)) (local.get $t))
        (local.set $sv (v128.load (i32.add (local.get $s) (local.get $off))))
        (local.set $dsm
          (f32x4.sub (local.get $ng) (f32x4.mul (local.get $t) (v128.load (i32.add (local.get $d) (local.get $off))))))
        (v128.store (i32.add (local.get $drescale) (local.get $jb))
          (f32x4.add
            (v128.load (i32.add (local.get $drescale) (local.get $jb)))
            (f32x4.mul (local.get $dsm) (local.get $sv))))
        (v128.store (i32.add (local.get $dpre) (local.get $off))
          (f32x4.mul
            (f32x4.mul (local.get $dsm) (v128.load (i32.add (local.get $rescale) (local.get $jb))))
            (f32x4.sub ${splat(1)} (f32x4.mul (local.get $sv) (local.get $sv)))))
        (local.set $jb (i32.add (local.get $jb) (i32.const 16)))
        (br $eachLanes)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $eachRow))))

  ;; dy <- dy where y > 0, else 0 (the ReLU's gradient given its output); count: a multiple of 4.
  (func (export "reluMask") (param $count i32) (param $dy i32) (param $y i32)
    (local $off i32) (local $end i32)
    (local.set $end (i32.mul (local.get $count) (i32.const 4)))
    (local.set $off (i32.const 0))
    (block $done (loop $each
      (br_if $done (i32.ge_s (local.get $off) (local.get $end)))
      (v128.store (i32.add (local.get $dy) (local.get $off))
        (v128.and
          (v128.load (i32.add (local.get $dy) (local.get $off)))
          (f32x4.gt (v128.load (i32.add (local.get $y) (local.get $off))) ${ZERO})))
      (local.set $off (i32.add (local.get $off) (i32.const 16)))
      (br $each))))

  ;; out[j] += sum_r x[r, j] on [rows, n] x; n: a multiple of 4.
  (func (export "columnSum") (param $rows i32) (param $n i32) (param $x i32) (param $out i32)
    (local $jb i32) (local $r i32) (local $p i32) (local $rowBytes i32) (local $total v128)
    (local.set $rowBytes (i32.mul (local.get $n) (i32.const 4)))
    (local.set $jb (i32.const 0))
    (block $lanesDone (loop $eachLanes
      (br_if $lanesDone (i32.ge_s (local.get $jb) (local.get $rowBytes)))
      (local.set $total ${ZERO})
      (local.set $p (i32.add (local.get $x) (local.get $jb)))
      (local.set $r (i32.const 0))
      (block $rowsDone (loop $eachRow
        (br_if $rowsDone (i32.ge_s (local.get $r) (local.get $rows)))
        (local.set $total (f32x4.add (local.get $total) (v128.load (local.get $p))))
        (local.set $p (i32.add (local.get $p) (local.get $rowBytes)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $eachRow)))
      (v128.store (i32.add (local.get $out) (local.get $jb))
        (f32x4.add (v128.load (i32.add (local.get $out) (local.get $jb))) (local.get $total)))
      (local.set $jb (i32.add (local.get $jb) (i32.const 16)))
      (br $eachLanes)))))
`;
}
