#!/usr/bin/env bash
# Makes the base image every pdfx Dockerfile starts FROM (debian:bookworm-slim)
# out of Debian's own packages, for machines that can reach an apt mirror but
# no container registry: debootstrap a minimal Debian 12 from the mirror this
# machine's apt uses, trim it the way the official slim image is trimmed, and
# `docker import` it under the public name. Elsewhere the same Dockerfiles pull
# the public image instead. Idempotent: does nothing when the tag exists.
#
#   docker/base/build-base.sh [TAG]     (default debian:bookworm-slim)
set -euo pipefail

tag="${1:-debian:bookworm-slim}"
suite="bookworm"

if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "build-base: $tag present"
  exit 0
fi

# The first Debian mirror apt is configured with (deb822 or one-line format).
mirror_of_apt() {
  local uri
  uri="$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
    | awk '{print $2}' | grep -E '/debian/?$' | head -n1 || true)"
  if [ -z "$uri" ]; then
    uri="$(grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
      | awk '{print $2}' | grep -E '/debian/?$' | head -n1 || true)"
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}
mirror="$(mirror_of_apt)"
security="${mirror%/debian}/debian-security"
if ! command -v debootstrap >/dev/null; then
  echo "build-base: debootstrap is missing (scripts/install-deps.sh installs it)" >&2
  exit 1
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
work="$(mktemp -d)"
trap '$sudo rm -rf "$work"' EXIT
root="$work/rootfs"

echo "build-base: debootstrap $suite from $mirror (a few minutes, once)"
$sudo debootstrap --variant=minbase --components=main --no-merged-usr \
  "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }

# The sources the official image carries, so `apt-get update` inside a build
# sees the same suites (updates and security included) as on any other machine.
$sudo tee "$root/etc/apt/sources.list.d/debian.sources" >/dev/null <<SOURCES
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
$sudo rm -f "$root/etc/apt/sources.list"
# What the slim variant leaves out: documentation, manuals, apt lists and caches.
$sudo tee "$root/etc/dpkg/dpkg.cfg.d/docker" >/dev/null <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
DPKG
$sudo tee "$root/etc/apt/apt.conf.d/docker-clean" >/dev/null <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
$sudo find "$root/usr/share/doc" -mindepth 2 ! -name copyright -delete 2>/dev/null || true
$sudo find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} + 2>/dev/null || true
$sudo rm -rf "$root/usr/share/man/"* "$root/usr/share/info/"* "$root/var/cache/debconf/"*-old \
  "$root/var/lib/apt/lists/"* "$root/var/cache/apt/"*.bin "$root/var/cache/apt/archives/"*.deb \
  "$root/var/log/"*.log "$root/tmp/"*

echo "build-base: importing as $tag"
$sudo tar -C "$root" --numeric-owner -c . \
  | docker import --change 'CMD ["bash"]' - "$tag" >/dev/null
echo "build-base: $tag $(docker image inspect -f '{{.Size}}' "$tag") bytes"
