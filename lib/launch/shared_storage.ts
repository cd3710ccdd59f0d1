/**
 * Whether the paths a Slurm run's jobs use are on storage every node of the cluster sees (checked on the
 * submitting machine, before anything is submitted):
 *
 * - the cluster's nodes: `sinfo -h -N -o %N` (of the partition, when one is given);
 * - each path's file system type: `findmnt -n -o FSTYPE -T PATH` (util-linux), else `stat -f -c %T`, on
 *   the path or its nearest existing parent.
 *
 * A path passes when its file system is a network or cluster file system ({@link SHARED_FS_TYPES}), or
 * when this machine is the cluster's only node (a single-node cluster sees this machine's disks). Anything
 * else is refused with the paths, their file system types and the nodes. The jobs check again on their
 * node that they see the run directory (`slurm_script.ts`).
 */
import { ConfigError } from "../config.ts";
import { dirname, exists } from "../runner/run_dir.ts";
import { hostName } from "../runner/run_lock.ts";
import { runCommand } from "./shell.ts";

/** File system types (as `findmnt` and `stat -f` name them) that several machines mount. */
export const SHARED_FS_TYPES: ReadonlySet<string> = new Set([
  "nfs",
  "nfs4",
  "lustre",
  "gpfs",
  "beegfs",
  "fhgfs",
  "ceph",
  "fuse.ceph-fuse",
  "glusterfs",
  "fuse.glusterfs",
  "cifs",
  "smb3",
  "smbfs",
  "panfs",
  "wekafs",
  "afs",
  "openafs",
  "orangefs",
  "pvfs2",
  "quobyte",
  "fuse.quobyte",
  "juicefs",
  "fuse.juicefs",
  "fuse.lizardfs",
  "fuse.moosefs",
  "ocfs2",
  "gfs2",
]);

/** A path the jobs use, and what it is (for messages). */
export interface UsedPath {
  readonly what: string;
  readonly path: string;
}

/** The file system type of `path` (or of its nearest existing parent). */
export async function fileSystemType(path: string): Promise<string> {
  let p = path;
  while (!exists(p) && p !== "/" && p !== ".") p = dirname(p);
  const fm = await runCommand("findmnt", ["-n", "-o", "FSTYPE", "-T", p]);
  if (fm.code === 0 && fm.stdout.trim() !== "") return fm.stdout.trim().split("\n")[0].trim();
  const st = await runCommand("stat", ["-f", "-c", "%T", p]);
  if (st.code === 0 && st.stdout.trim() !== "") return st.stdout.trim();
  return "unknown";
}

/** The names this machine goes by (a node list naming only these is this machine alone). */
export async function thisHostNames(): Promise<Set<string>> {
  const names = new Set(["localhost", hostName()]);
  for (const args of [[], ["-s"], ["-f"]]) {
    const r = await runCommand("hostname", args);
    if (r.code === 0 && r.stdout.trim() !== "") names.add(r.stdout.trim());
  }
  for (const n of [...names]) names.add(n.split(".")[0]);
  return names;
}

/** The nodes of the cluster (of `partition` when given), from `sinfo`. */
export async function clusterNodes(partition: string | null): Promise<string[]> {
  const r = await runCommand("sinfo", ["-h", "-N", "-o", "%N", ...(partition ? ["-p", partition] : [])]);
  if (r.code !== 0) {
    throw new Error(`Cannot list the cluster's nodes: sinfo exited with code ${r.code}: ${r.stderr.trim()}`);
  }
  const nodes = [...new Set(r.stdout.split("\n").map((l) => l.trim()).filter((l) => l !== ""))];
  if (nodes.length === 0) {
    throw new Error(`sinfo lists no nodes${partition ? ` in partition ${partition}` : ""}`);
  }
  return nodes;
}

/**
 * Throws a {@link ConfigError} naming every path of `paths` that is on a file system local to this machine
 * while the cluster has nodes other than this one (see the module doc).
 */
export async function checkSharedStorage(
  paths: readonly UsedPath[],
  partition: string | null,
): Promise<{ nodes: string[]; types: Map<string, string> }> {
  const nodes = await clusterNodes(partition);
  const me = await thisHostNames();
  const types = new Map<string, string>();
  for (const p of paths) types.set(p.path, await fileSystemType(p.path));
  const onlyThis = nodes.every((n) => me.has(n) || me.has(n.split(".")[0]));
  if (onlyThis) return { nodes, types };
  const local = paths.filter((p) => !SHARED_FS_TYPES.has(types.get(p.path)!));
  if (local.length === 0) return { nodes, types };
  const shown = nodes.length > 8
    ? `${nodes.slice(0, 8).join(", ")}, ... (${nodes.length} nodes)`
    : nodes.join(", ");
  throw new ConfigError(
    `Cannot submit to Slurm: ${
      local.map((p) => `the ${p.what} ${p.path} (${types.get(p.path)})`).join(", ")
    } ` +
      `${
        local.length === 1 ? "is on a file system" : "are on file systems"
      } local to this machine (${hostName()}), ` +
      `but the jobs run on the nodes ${shown}${
        partition ? ` of partition ${partition}` : ""
      }, which would not ` +
      `see ${
        local.length === 1 ? "it" : "them"
      }. Put the run directory (--out), the corpus, the feature cache ` +
      `and the echoflow checkout on storage every node mounts at the same path (NFS, Lustre, GPFS, BeeGFS, ` +
      `CephFS, ...). Checked: each path's file system type (findmnt) against the network and cluster file ` +
      `systems echoflow knows; a local file system passes only when this machine is the cluster's only ` +
      `node (sinfo). If the storage is shared after all, --no-slurm_check_shared skips this check (each job ` +
      `still checks on its node that it sees the run directory).`,
  );
}
