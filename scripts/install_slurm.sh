#!/usr/bin/env bash
# Installs Debian's Slurm (slurm-wlm 22.05: slurmctld, slurmd and the client commands) and MUNGE when any
# of their programs is missing. Needs root and apt-get. Used by CI (.ci/run) and by tests/slurm_test.ts,
# which starts its own single-node cluster: apt is kept from starting the packaged daemons.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
missing=0
for p in slurmctld slurmd sbatch squeue scontrol sinfo munged munge; do have "$p" || missing=1; done
if [ "$missing" = 0 ]; then
  echo "install_slurm: slurm-wlm and munge are installed" >&2
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install_slurm: slurm-wlm or munge is missing and installing them needs root" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install_slurm: slurm-wlm or munge is missing and there is no apt-get to install them" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# policy-rc.d exit 101: "do not start services" for the packages' maintainer scripts.
policy=/usr/sbin/policy-rc.d
made=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  made=1
fi
trap '[ "$made" = 1 ] && rm -f "$policy"' EXIT
packages=(slurm-wlm munge)
echo "install_slurm: apt-get install ${packages[*]}" >&2
if ! apt-get install -y --no-install-recommends "${packages[@]}" >&2; then
  apt-get update >&2
  apt-get install -y --no-install-recommends "${packages[@]}" >&2
fi
