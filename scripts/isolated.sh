#!/usr/bin/env bash
# Run a command in a private network namespace that has only loopback, so that no DDS packet
# can leave the machine: the ROS tests, benchmarks, and nodes tried by hand next to a test
# camera. Usage: bash scripts/isolated.sh COMMAND [ARGS...]
# Exit code 3 (and one line) when no namespace can be made (no unshare, or no permission).
set -euo pipefail
if [ "${1:-}" = "--inside" ]; then
  shift
  python3 - <<'PY'
# bring lo up (no dependency on iproute2): SIOCGIFFLAGS / SIOCSIFFLAGS with IFF_UP
import fcntl, socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
name = struct.pack("16sH", b"lo", 0)
flags = struct.unpack("16sH", fcntl.ioctl(s, 0x8913, name)[:18])[1]
fcntl.ioctl(s, 0x8914, struct.pack("16sH", b"lo", flags | 0x1))
PY
  export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
  exec "$@"
fi
[ $# -gt 0 ] || { echo "usage: bash scripts/isolated.sh COMMAND [ARGS...]" >&2; exit 2; }
# as root: a new network namespace; otherwise a user namespace that maps us to root in it
for flags in "--net" "--user --map-root-user --net"; do
  # shellcheck disable=SC2086
  if unshare $flags true 2>/dev/null; then
    exec unshare $flags bash "$0" --inside "$@"
  fi
done
echo "k2m: cannot make a private network namespace (unshare --net and unshare --user --net" \
  "both failed); DDS tests and benchmarks need one so that no packet leaves the machine" >&2
exit 3
