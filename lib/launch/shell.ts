/**
 * Small shell helpers for launchers: quoting words for bash scripts, splitting an option string the way a
 * shell would (for `--slurm_args`), finding a program on PATH, and running a command for its output.
 */
import { ConfigError } from "../config.ts";
import { join } from "../runner/run_dir.ts";

/** `s` as one bash word: as is when it has only safe characters, else in single quotes. */
export function shellQuote(s: string): string {
  if (/^[\w@%+=:,./-]+$/.test(s)) return s;
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/**
 * Splits `s` into words as a POSIX shell would without expansions: blanks separate words, single quotes
 * keep everything, double quotes keep everything but `\"` and `\\`, a backslash outside quotes escapes the
 * next character. An unclosed quote is a {@link ConfigError} naming `what`.
 */
export function shellSplit(s: string, what: string): string[] {
  const words: string[] = [];
  let word: string | null = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (/\s/.test(c)) {
      if (word !== null) words.push(word);
      word = null;
    } else if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) throw new ConfigError(`${what}: unclosed ' in "${s}"`);
      word = (word ?? "") + s.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      let j = i + 1, part = "";
      for (; j < s.length && s[j] !== '"'; j++) {
        if (s[j] === "\\" && (s[j + 1] === '"' || s[j + 1] === "\\")) j++;
        part += s[j];
      }
      if (j >= s.length) throw new ConfigError(`${what}: unclosed " in "${s}"`);
      word = (word ?? "") + part;
      i = j;
    } else if (c === "\\" && i + 1 < s.length) {
      word = (word ?? "") + s[++i];
    } else {
      word = (word ?? "") + c;
    }
  }
  if (word !== null) words.push(word);
  return words;
}

/** The first executable `name` on PATH, or null. */
export function findOnPath(name: string, path: string = Deno.env.get("PATH") ?? ""): string | null {
  for (const dir of path.split(":")) {
    if (dir === "") continue;
    const file = join(dir, name);
    try {
      const st = Deno.statSync(file);
      if (st.isFile && ((st.mode ?? 0o111) & 0o111) !== 0) return file;
    } catch {
      // not here
    }
  }
  return null;
}

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `cmd args` (no shell) and returns its exit code and output; a program that cannot start is code 127. */
export async function runCommand(cmd: string, args: readonly string[]): Promise<CommandResult> {
  try {
    const out = await new Deno.Command(cmd, {
      args: [...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    })
      .output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  } catch (e) {
    return { code: 127, stdout: "", stderr: e instanceof Error ? e.message : String(e) };
  }
}

/** `path` made absolute against the working directory. */
export function absolutePath(path: string): string {
  return path.startsWith("/") ? path : join(Deno.cwd(), path).replace(/\/\.(?=\/|$)/g, "");
}
