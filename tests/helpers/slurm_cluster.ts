/**
 * A single-node Slurm cluster on this machine for tests: MUNGE (its own key and socket), slurmctld and
 * slurmd on localhost with their own config, state, spool, logs and ports in a temporary directory, so
 * nothing of the system's Slurm or MUNGE setup is touched. Debian's slurm-wlm and munge are installed
 * first when missing (`scripts/install_slurm.sh`: root and apt-get).
 *
 * The daemons are this process's children (in the foreground, `-D` / `-F`); {@link SlurmCluster.stop}
 * cancels the cluster's jobs, waits for them, and ends the daemons by their process ids.
 */
/** The repository root (ends with `/`). */
const ROOT = new URL("../../", import.meta.url).pathname;

const dec = new TextDecoder();

/** Why the Slurm test cannot run here, or null when it can (root, and Slurm installed or apt-get). */
export function slurmSkipReason(): string | null {
  if (Deno.build.os !== "linux") return `not Linux (${Deno.build.os})`;
  const uid = new Deno.Command("id", { args: ["-u"], stdout: "piped", stderr: "null" }).outputSync();
  if (dec.decode(uid.stdout).trim() !== "0") {
    return "not root: slurmd and slurmctld run jobs as other users only as root, and apt-get needs it";
  }
  const has = (p: string) =>
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin"].some((d) => {
      try {
        return Deno.statSync(`${d}/${p}`).isFile;
      } catch {
        return false;
      }
    });
  const installed = ["slurmctld", "slurmd", "sbatch", "munged"].every(has);
  if (!installed && !has("apt-get")) return "slurm-wlm or munge missing and no apt-get to install them";
  return null;
}

async function run(cmd: string, args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped", stdin: "null" })
    .output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** A TCP port in 20000-59999 nothing listens on now (`ss`; the test has no network permission to try). */
async function freePort(taken: Set<number>): Promise<number> {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 40000);
    if (taken.has(port)) continue;
    const ss = await run("ss", ["-Hltn", `sport = :${port}`]);
    if (ss.code !== 0 || ss.stdout.trim() === "") {
      taken.add(port);
      return port;
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface SlurmCluster {
  readonly dir: string;
  /** Environment for Slurm's commands (and echoflow runs submitting to this cluster): SLURM_CONF. */
  readonly env: Record<string, string>;
  readonly node: string;
  /** Runs a Slurm command (`squeue`, `scontrol`, ...) against this cluster. */
  cmd(name: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** The daemons' logs, for failure messages. */
  logs(): string;
  stop(): Promise<void>;
}

/** Installs Slurm when missing, starts the cluster and waits for its node to be idle. */
export async function startSlurmCluster(log: (s: string) => void = () => {}): Promise<SlurmCluster> {
  const t0 = performance.now();
  const inst = await run("bash", [`${ROOT}scripts/install_slurm.sh`]);
  if (inst.code !== 0) throw new Error(`scripts/install_slurm.sh failed (${inst.code}): ${inst.stderr}`);
  log(`slurm installed or present (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  const dir = await Deno.makeTempDir({ prefix: "echoflow_slurm_" });
  for (const d of ["state", "spool", "log", "munge"]) await Deno.mkdir(`${dir}/${d}`, { mode: 0o755 });
  await Deno.mkdir(`${dir}/key`, { mode: 0o700 });
  await Deno.chmod(dir, 0o755);
  const key = crypto.getRandomValues(new Uint8Array(1024));
  await Deno.writeFile(`${dir}/key/munge.key`, key, { mode: 0o600 });
  const socket = `${dir}/munge/munge.socket`;
  const host = (await run("hostname", ["-s"])).stdout.trim() || "localhost";
  const children: Deno.ChildProcess[] = [];
  const spawn = (cmd: string, args: string[], out: string) => {
    const child = new Deno.Command(cmd, {
      args,
      stdin: "null",
      stdout: "null",
      stderr: "null",
      env: { SLURM_CONF: `${dir}/slurm.conf` },
    }).spawn();
    children.push(child);
    log(`started ${out} (pid ${child.pid})`);
    return child;
  };
  const stopChildren = async () => {
    for (const c of children.reverse()) {
      try {
        c.kill("SIGTERM");
      } catch {
        // already gone
      }
      const done = await Promise.race([c.status.then(() => true), sleep(10_000).then(() => false)]);
      if (!done) {
        try {
          c.kill("SIGKILL");
        } catch {
          // already gone
        }
        await c.status;
      }
    }
  };
  try {
    spawn("/usr/sbin/munged", [
      "-F",
      "--force",
      `--socket=${socket}`,
      `--key-file=${dir}/key/munge.key`,
      `--log-file=${dir}/log/munged.log`,
      `--pid-file=${dir}/munge/munged.pid`,
      `--seed-file=${dir}/munge/munged.seed`,
    ], "munged");
    for (let i = 0;; i++) {
      const m = await run("munge", ["-n", "-S", socket]);
      if (m.code === 0) break;
      if (i > 100) throw new Error(`munged did not answer on ${socket}: ${m.stderr}`);
      await sleep(100);
    }
    const cpus = navigator.hardwareConcurrency || 1;
    const ports = new Set<number>();
    const conf = [
      "ClusterName=echoflowtest",
      `SlurmctldHost=${host}(127.0.0.1)`,
      `SlurmctldPort=${await freePort(ports)}`,
      `SlurmdPort=${await freePort(ports)}`,
      "SlurmUser=root",
      "SlurmdUser=root",
      "AuthType=auth/munge",
      `AuthInfo=socket=${socket}`,
      "CredType=cred/munge",
      `StateSaveLocation=${dir}/state`,
      `SlurmdSpoolDir=${dir}/spool`,
      `SlurmctldPidFile=${dir}/slurmctld.pid`,
      `SlurmdPidFile=${dir}/slurmd.pid`,
      `SlurmctldLogFile=${dir}/log/slurmctld.log`,
      `SlurmdLogFile=${dir}/log/slurmd.log`,
      "ProctrackType=proctrack/pgid",
      "TaskPlugin=task/none",
      "MpiDefault=none",
      "SchedulerType=sched/backfill",
      "SelectType=select/cons_tres",
      "SelectTypeParameters=CR_Core",
      "ReturnToService=2",
      "JobAcctGatherType=jobacct_gather/none",
      "AccountingStorageType=accounting_storage/none",
      "JobCompType=jobcomp/none",
      // Finished jobs stay listed by squeue for the test's checks; a killed job gets SIGKILL after 5 s.
      "MinJobAge=3600",
      "KillWait=5",
      `NodeName=${host} NodeAddr=127.0.0.1 CPUs=${cpus} State=UNKNOWN`,
      `PartitionName=test Nodes=${host} Default=YES MaxTime=INFINITE State=UP`,
      "",
    ].join("\n");
    await Deno.writeTextFile(`${dir}/slurm.conf`, conf);
    spawn("/usr/sbin/slurmctld", ["-D", "-i", "-f", `${dir}/slurm.conf`], "slurmctld");
    spawn("/usr/sbin/slurmd", ["-D", "-f", `${dir}/slurm.conf`], "slurmd");
    const env = { SLURM_CONF: `${dir}/slurm.conf` };
    const logs = () =>
      ["slurmctld.log", "slurmd.log"].map((f) => {
        try {
          return `--- ${f} (last lines)\n${
            Deno.readTextFileSync(`${dir}/log/${f}`).split("\n").slice(-25).join("\n")
          }`;
        } catch {
          return `--- ${f}: none`;
        }
      }).join("\n");
    for (let i = 0;; i++) {
      const s = await run("sinfo", ["-h", "-N", "-o", "%N %T"], env);
      if (s.code === 0 && /\bidle\b/.test(s.stdout)) break;
      if (i > 300) {
        throw new Error(`the test cluster's node did not come up: ${s.stdout}${s.stderr}\n${logs()}`);
      }
      await sleep(100);
    }
    log(
      `cluster up in ${((performance.now() - t0) / 1000).toFixed(1)} s (node ${host}, ${cpus} CPUs, ${dir})`,
    );
    return {
      dir,
      env,
      node: host,
      cmd: (name, args) => run(name, args, env),
      logs,
      async stop() {
        // Jobs first (their slurmstepd outlives slurmd), then the daemons, by their process ids.
        await run("scancel", ["--full", "--user=root"], env);
        for (let i = 0; i < 100; i++) {
          const q = await run("squeue", ["-h", "-o", "%i"], env);
          if (q.code !== 0 || q.stdout.trim() === "") break;
          await sleep(100);
        }
        await stopChildren();
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      },
    };
  } catch (e) {
    await stopChildren();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw e;
  }
}
