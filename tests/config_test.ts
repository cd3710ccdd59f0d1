/**
 * Command-line parsing and config resolution: flag forms, typed overrides, and usage errors that name
 * the key and list what is valid.
 */
import assert from "node:assert/strict";
import { configOverrides, parseCli, UsageError } from "../lib/cli/args.ts";
import { configHelpText, listText, usageText } from "../lib/cli/help.ts";
import {
  configChanges,
  ConfigError,
  defineConfig,
  describeType,
  float,
  int,
  resolveConfig,
  str,
} from "../lib/config.ts";
import { gaussian2d } from "../experiments/gaussian_2d.ts";

const schema = gaussian2d.config;
const resolve = (argv: string[]) => resolveConfig(schema, configOverrides(schema, parseCli(argv).options));

Deno.test("parseCli reads the CLI's own flags", () => {
  const { flags, options } = parseCli([
    "--name",
    "gaussian_2d",
    "--backend=wasm",
    "--out",
    "/tmp/x",
    "--resume",
    "runs/a",
    "--json",
    "--quiet",
    "--overwrite",
    "-h",
  ]);
  assert.deepEqual(flags, {
    name: "gaussian_2d",
    list: false,
    help: true,
    backend: "wasm",
    out: "/tmp/x",
    resume: "runs/a",
    json: true,
    quiet: true,
    overwrite: true,
  });
  assert.deepEqual(options, []);
  assert.equal(parseCli([]).flags.backend, "auto");
  assert.equal(parseCli(["--list"]).flags.list, true);
});

Deno.test("config overrides: --key value, --key=value, --flag, --no-flag, hyphens, none", () => {
  const cfg = resolve([
    "--lr",
    "1e-4",
    "--epochs=3",
    "--eval_train",
    "--no-log-timing",
    "--batch-size",
    "7",
    "--mean_x",
    "-2.5",
    "--grad_clip_norm",
    "none",
    "--checkpoint_path",
    "none",
    "--optimizer",
    "sgd",
    "--run_name",
    "trial",
    "--notes",
    "two words",
  ]);
  assert.deepEqual(
    [cfg.lr, cfg.epochs, cfg.eval_train, cfg.log_timing, cfg.batch_size, cfg.mean_x, cfg.grad_clip_norm],
    [1e-4, 3, true, false, 7, -2.5, null],
  );
  assert.deepEqual([cfg.checkpoint_path, cfg.optimizer, cfg.name, cfg.notes], [
    null,
    "sgd",
    "trial",
    "two words",
  ]);
  assert.equal(resolve(["--eval_train", "false"]).eval_train, false);
  assert.deepEqual(resolve([]), resolveConfig(schema));
  assert.ok(Object.isFrozen(resolve([])) && Object.isFrozen(schema));
});

Deno.test("usage errors name the problem and list what is valid", async (t) => {
  const refuses = (argv: string[], cls: new (msg: string) => Error, re: RegExp) =>
    assert.throws(() => resolve(argv), (e: Error) => e instanceof cls && re.test(e.message), argv.join(" "));
  await t.step(
    "unknown key",
    () => refuses(["--nope", "1"], ConfigError, /Unknown config key "nope"\. Valid keys: .*run_name/),
  );
  await t.step("config key 'name' is --run_name (--name picks the experiment)", () => {
    assert.equal(parseCli(["--name", "x"]).flags.name, "x");
    refuses(["--run-name"], ConfigError, /--run_name needs a value \(string\)/);
  });
  await t.step("wrong types", () => {
    refuses(["--epochs", "three"], ConfigError, /--epochs expects an integer, got "three"/);
    refuses(["--lr", "fast"], ConfigError, /--lr expects a number, got "fast"/);
    refuses(["--lr", "none"], ConfigError, /--lr expects a number/);
    refuses(["--eval_train", "maybe"], ConfigError, /--eval_train expects true or false/);
    refuses(["--optimizer", "lbfgs"], ConfigError, /--optimizer must be one of adam, sgd/);
  });
  await t.step("missing values and misuse of --no-", () => {
    refuses(["--lr"], ConfigError, /--lr needs a value \(float\)/);
    refuses(["--no-lr"], ConfigError, /--no-lr needs a value/);
    refuses(["--lr", "1", "--lr", "2"], ConfigError, /--lr is given more than once/);
  });
  await t.step("CLI flags", () => {
    refuses(["stray"], UsageError, /Unexpected argument "stray"/);
    refuses(["--backend", "tpu"], UsageError, /--backend must be one of auto, webgpu, wasm, cpu/);
    refuses(["--out"], UsageError, /--out expects a directory/);
    refuses(["--json=yes"], UsageError, /--json takes no value/);
  });
});

Deno.test("help texts list every experiment and every key", () => {
  assert.match(listText({ gaussian_2d: gaussian2d }), /^ {2}gaussian_2d {2}Full-covariance/);
  assert.match(usageText({ gaussian_2d: gaussian2d }), /Experiments:\n {2}gaussian_2d/);
  assert.match(listText({}), /no experiments registered/);
  const help = configHelpText(gaussian2d);
  for (const k of Object.keys(schema)) assert.match(help, new RegExp(`--${k === "name" ? "run_name" : k} `));
  assert.match(help, /--grad_clip_norm\s+float>=0\|none\s+none\s+Clip/);
  assert.match(help, /--optimizer\s+\{adam,sgd\}\s+"adam"/);
});

Deno.test("numeric keys with a minimum refuse smaller values, naming the flag", () => {
  const schema = defineConfig({ epochs: int(3, "epochs", { min: 1 }), lr: float(0.1, "lr", { min: 0 }) });
  assert.equal(resolveConfig(schema, { epochs: "1" }).epochs, 1);
  assert.throws(() => resolveConfig(schema, { epochs: "0" }), /--epochs must be at least 1, got 0/);
  assert.throws(() => resolveConfig(schema, { lr: -1 }), /--lr must be at least 0, got -1/);
  assert.equal(describeType(schema.epochs), "int>=1");
});

Deno.test("numeric keys with a maximum refuse larger values; bounds show in the help type", () => {
  const schema = defineConfig({
    rate: float(0.5, "rate", { min: 0, max: 1 }),
    cap: int(3, "cap", { max: 8 }),
  });
  assert.equal(resolveConfig(schema, { rate: "1" }).rate, 1);
  assert.throws(() => resolveConfig(schema, { rate: "1.5" }), /--rate must be at most 1, got 1\.5/);
  assert.throws(() => resolveConfig(schema, { rate: -0.1 }), /--rate must be at least 0, got -0\.1/);
  assert.throws(() => resolveConfig(schema, { cap: 9 }), /--cap must be at most 8, got 9/);
  assert.equal(describeType(schema.rate), "float in [0, 1]");
  assert.equal(describeType(schema.cap), "int<=8");
  assert.throws(() => float(0.5, "inverted", { min: 1, max: 0 }), /min 1 is above max 0/);
});

Deno.test("configChanges() names changed, removed and new keys against the saved config", () => {
  assert.deepEqual(
    configChanges({ a: 1, b: "x", gone: true }, { a: 2, b: "x", fresh: null }, "the checkpoint"),
    [
      'config key "a" differs from the checkpoint: 1 -> 2',
      'config key "gone" of the checkpoint no longer exists; ignored',
      'config key "fresh" is new since the checkpoint: null',
    ],
  );
  // With the schema: a key newer than the saved config is no change at its default, a change otherwise.
  const schema = defineConfig({
    a: int(1, "a"),
    fresh: str(null, "f", { nullable: true }),
    more: int(3, "m"),
  });
  assert.deepEqual(configChanges({ a: 1 }, { a: 1, fresh: null, more: 4 }, "the run", schema), [
    'config key "more" is new since the run: 4',
  ]);
});
