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

# archive_kernel: sets RXE_KVER and RXE_KSRC_VERSION, unless pinned, to the
# newest 6.12 kernel of $RXE_SUITE(-security): linux-image-amd64's newest
# version and the kernel package it depends on.  The answer is kept in
# $RXE_CACHE/archive-kernel for $RXE_ARCHIVE_TTL seconds, so that every
# script of one run sees the same kernel and the archive is read once a day.
archive_kernel() {
	[ -z "$RXE_KVER" ] || { [ -n "$RXE_KSRC_VERSION" ] || die "RXE_KVER is pinned: pin RXE_KSRC_VERSION too"; return 0; }
	archive_kernel_cached && return 0
	local f=$RXE_CACHE/archive-kernel kv
	[ "$(id -u)" = 0 ] || die "must run as root to read the archive's kernel list"
	kv=$(archive_newest_612 "$RXE_CACHE/archive-apt" "$RXE_SUITE" \
		"deb [arch=amd64] $RXE_MIRROR $RXE_SUITE main" \
		"deb [arch=amd64] $RXE_SECURITY_MIRROR $RXE_SUITE-security main") || exit
	read -r RXE_KVER RXE_KSRC_VERSION <<<"$kv"
	echo "$kv" >"$f.new" && mv "$f.new" "$f"
}

# archive_newest_612 STATE NAME SOURCE...: "KVER VERSION": the newest
# linux-image-amd64 of the archive's SOURCE lines (sources.list lines; NAME
# names them in messages) and the 6.12 kernel it depends on, read with a
# private apt state in STATE.  Dies if the lists cannot be read or there is
# no such kernel.
archive_newest_612() {
	local st=$1 name=$2 o ver kver
	shift 2
	mkdir -p "$st/lists/partial" "$st/empty"
	printf '%s\n' "$@" >"$st/sources.list"
	o=(-o Dir::State="$st" -o Dir::State::Lists="$st/lists" -o Dir::State::status=/dev/null
		-o Dir::Etc::SourceList="$st/sources.list" -o Dir::Etc::SourceParts="$st/empty" -o Dir::Cache="$st"
		-o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts="$st/empty" -o APT::Architecture=amd64)
	apt-get "${o[@]}" update >"$st/update.log" 2>&1 || { tail -n 5 "$st/update.log" >&2; die "could not read $name's package lists (log: $st/update.log)"; }
	ver=$(apt-cache "${o[@]}" madison linux-image-amd64 | awk '{ print $3 }' | sort -V | tail -n 1)
	kver=$(apt-cache "${o[@]}" depends "linux-image-amd64=$ver" |
		sed -n 's/^ *Depends: linux-image-\(6\.12\.[^ ]*-amd64\)$/\1/p' | head -n 1)
	[ -n "$kver" ] || die "no 6.12 kernel behind linux-image-amd64 $ver in $name"
	echo "$kver $ver"
}

# archive_kernel_cached: the same from the cache only (no network, no root);
# fails when there is no fresh answer.
archive_kernel_cached() {
	local f=$RXE_CACHE/archive-kernel kv ks
	[ -r "$f" ] && [ $(($(date +%s) - $(stat -c %Y "$f"))) -lt "$RXE_ARCHIVE_TTL" ] &&
		read -r kv ks <"$f" && [ -n "$ks" ] || return 1
	RXE_KVER=$kv RXE_KSRC_VERSION=$ks
}

# Key of the cached root: everything that goes into it.
root_key() {
	{
		cat "$TESTBED_DIR/build-root" "$TESTBED_DIR/packages"
		printf '%s\n' "$RXE_KVER" "$RXE_KSRC_VERSION" "$RXE_REF_KVER" \
			"$RXE_SUITE" "$RXE_MIRROR"
	} | sha256sum | cut -c1-16
}

root_dir() {
	archive_kernel
	echo "$RXE_CACHE/root-$(root_key)"
}

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

# root_ksrc ROOT VERSION: the path inside ROOT of linux-source-6.12
# VERSION's tarball, fetched once (apt-get download in the root) to
# /usr/src/rxe-odp-ksrc/ beside the packaged one, since linux-source-6.12
# holds one version at a time; the packaged path when that is VERSION.
# Callers hold $RXE_CACHE/.lock (runs image the root).  Log: $RXE_CACHE/ksrc.log
root_ksrc() {
	local root=$1 ver=$2 tarball log=$RXE_CACHE/ksrc.log
	if [ "$(chroot "$root" dpkg-query -W -f '${Version}' linux-source-6.12 2>/dev/null)" = "$ver" ]; then
		echo /usr/src/linux-source-6.12.tar.xz
		return 0
	fi
	tarball=/usr/src/rxe-odp-ksrc/linux-source-$ver.tar.xz
	if [ ! -e "$root$tarball" ]; then
		say "fetching linux-source-6.12=$ver (its rxe source) into the root"
		mkdir -p "$root/usr/src/rxe-odp-ksrc"
		in_root "$root" sh -c "set -e; cd /tmp; rm -f linux-source-6.12_*.deb
			apt-get download linux-source-6.12=$ver || { apt-get update -qq && apt-get download linux-source-6.12=$ver; }
			dpkg-deb --fsys-tarfile linux-source-6.12_*.deb | tar -xO ./usr/src/linux-source-6.12.tar.xz >$tarball.part
			mv $tarball.part $tarball; rm -f linux-source-6.12_*.deb" >"$log" 2>&1 ||
			{ release_root "$root"; tail -n 20 "$log" >&2; die "could not fetch linux-source-6.12=$ver (log: $log)"; }
		release_root "$root"
	fi
	echo "$tarball"
}

release_root() {
	local root=$1 m
	for m in dev sys proc; do
		mountpoint -q "$root/$m" && umount -l "$root/$m"
	done
	return 0
}

# The default kernel as last read from the archive, when that is fresh (the
# scripts that build or boot call archive_kernel, which reads it if not).
[ -n "$RXE_KVER" ] || archive_kernel_cached 2>/dev/null || true
