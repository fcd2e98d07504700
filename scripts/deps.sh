#!/usr/bin/env bash
# scripts/deps.sh - installs the Debian packages muster needs to build and test.
# As root it installs what is missing (apt-get); otherwise it prints the exact command
# and exits 1. Pass --bench to add the benchmark peers, --fuzz for libFuzzer builds.
set -eu
pkgs=(gcc make pkg-config liblmdb-dev libjansson-dev lmdb-utils check python3 util-linux procps)
for a in "$@"; do
	case "$a" in
	--bench) pkgs+=(redis-server libhiredis-dev) ;;
	--fuzz) pkgs+=(clang libclang-rt-14-dev) ;;
	--lint) pkgs+=(clang-format clang-tidy cppcheck shellcheck) ;;
	*) echo "deps.sh: unknown option '$a'" >&2; exit 2 ;;
	esac
done
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "muster needs these Debian packages; run as root:" >&2
	echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
	exit 1
fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
