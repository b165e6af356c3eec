#!/bin/sh
# setup.sh installs the Debian packages the benchmark harness compares
# against. The harness itself installs nothing: a peer that is missing is
# reported as skipped.
#
#   python3-mitogen  the Mitogen peer (run with /usr/bin/python3)
#   openssh-server   sshd, for the SSH rows (the harness starts its own
#                    sshd on 127.0.0.1 with throwaway keys)
#   openssh-client   ssh and ssh-keygen, used by Mitogen's SSH contexts
#                    and to make those keys
#
# Run as root (or through sudo) on Debian or Ubuntu.
set -eu

packages="python3 python3-mitogen openssh-server openssh-client"

if [ "$(id -u)" -ne 0 ]; then
	exec sudo "$0" "$@"
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends $packages

# Do not leave a system sshd running on port 22 because of this script:
# the harness runs its own on a free port.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet ssh 2>/dev/null; then
	echo "setup.sh: note: the system's ssh service is running; the harness does not need it"
fi
echo "setup.sh: installed $packages"
