# Shared helpers of the testbed scripts (sourced, not run).
# shellcheck shell=bash

TESTBED_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$TESTBED_DIR/../.." && pwd)
# shellcheck source=versions
. "$TESTBED_DIR/versions"
: "${RXE_CACHE:=/var/cache/rxe-odp}"

say() { printf '[testbed %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'testbed: error: %s\n' "$*" >&2; exit 2; }

need_root() {
	[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, chroot and dkms need it); try: sudo $0 $*"
}

# need_tools CMD:PACKAGE... installs missing host tools with apt-get when it
# can, otherwise names the packages to install.
need_tools() {
	local missing=() pair
	for pair in "$@"; do
		command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
	done
	[ ${#missing[@]} = 0 ] && return 0
	if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
		say "installing host tools: ${missing[*]}"
		apt-get update -qq >&2 || die "apt-get update failed"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			"${missing[@]}" >&2 || die "could not install: ${missing[*]}"
	else
		die "missing host tools; install: ${missing[*]}"
	fi
}

# Key of the cached root: everything that goes into it.
root_key() {
	{
		cat "$TESTBED_DIR/build-root" "$TESTBED_DIR/packages"
		printf '%s\n' "$RXE_KVER" "$RXE_KSRC_VERSION" "$RXE_REF_KVER" \
			"$RXE_SUITE" "$RXE_MIRROR"
	} | sha256sum | cut -c1-16
}

root_dir() { echo "$RXE_CACHE/root-$(root_key)"; }

# Run a command in the root with /proc, /sys and /dev available.
in_root() {
	local root=$1
	shift
	mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
	mountpoint -q "$root/sys" || mount -t sysfs sys "$root/sys"
	mountpoint -q "$root/dev" || mount --bind /dev "$root/dev"
	chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
		DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 "$@"
}

release_root() {
	local root=$1 m
	for m in dev sys proc; do
		mountpoint -q "$root/$m" && umount -l "$root/$m"
	done
	return 0
}
