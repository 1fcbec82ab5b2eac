#!/usr/bin/env bash
# Waiting for the package manager. apt-get fails at once with "Could not get lock
# /var/lib/dpkg/lock-frontend" while anything else installs (another apt-get, unattended-upgrades
# on a fresh machine, a desktop's software centre). Before installing, wait_for_apt_locks says who
# holds which lock and waits until it is free; apt's own DPkg::Lock::Timeout (apt_lock_options)
# covers the moment between that check and apt-get taking the lock itself.
#
# Both kinds of lock are seen (dpkg and apt take POSIX fcntl locks, some tools flock): lslocks
# (util-linux, in every Debian) lists them from /proc/locks, matched by path or inode.
#   LINEWATCH_APT_LOCKS          colon-separated lock files instead of apt's and dpkg's (tests)
#   LINEWATCH_APT_LOCK_TIMEOUT_S give up after this long (default 1800 s: a big upgrade takes a while)

apt_lock_files() {
  if [ -n "${LINEWATCH_APT_LOCKS:-}" ]; then
    tr ':' '\n' <<<"$LINEWATCH_APT_LOCKS"
  else
    printf '%s\n' /var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/apt/lists/lock /var/cache/apt/archives/lock
  fi
}

# "PID COMMAND FILE" of the first lock file someone holds; nothing when all are free.
apt_lock_holder() {
  command -v lslocks >/dev/null || return 0
  local held file inode
  held=$(lslocks --noheadings --raw --output PID,COMMAND,INODE,PATH 2>/dev/null) || return 0
  while IFS= read -r file; do
    [ -e "$file" ] || continue
    inode=$(stat -c %i "$file")
    awk -v ino="$inode" -v f="$file" '$4 == f || ($3 == ino && $4 == "") { print $1, $2, f; exit }' <<<"$held" \
      | grep . && return 0
  done < <(apt_lock_files)
  return 0
}

wait_for_apt_locks() {
  local timeout=${LINEWATCH_APT_LOCK_TIMEOUT_S:-1800} waited=0 holder said=""
  while holder=$(apt_lock_holder) && [ -n "$holder" ]; do
    local pid cmd file
    read -r pid cmd file <<<"$holder"
    if [ "$holder" != "$said" ]; then
      echo "linewatch: waiting for the package manager: $file is held by process $pid ($cmd); installing goes on when it is done" >&2
      said=$holder
    fi
    if [ "$waited" -ge "$timeout" ]; then
      echo "linewatch: gave up after ${timeout} s: $file is still held by process $pid ($cmd)" >&2
      return 1
    fi
    sleep 2
    waited=$((waited + 2))
  done
  [ -z "$said" ] || echo "linewatch: the package manager is free; installing" >&2
  return 0
}

# apt-get options that make apt itself wait for dpkg's lock instead of failing.
apt_lock_options() {
  printf '%s\n' -o "DPkg::Lock::Timeout=${LINEWATCH_APT_LOCK_TIMEOUT_S:-1800}"
}
