#!/usr/bin/env bash
# Fetch Fashion-MNIST (Copyright (c) 2017 Zalando SE, MIT license) offline-
# friendly from Debian's package `dataset-fashion-mnist`, without installing it:
#   apt-get download + dpkg -x into a staging folder inside DEST_DIR, then the
#   4 idx .gz files and the package's copyright file are moved to DEST_DIR.
#
# usage: fetch_fashion_mnist.sh DEST_DIR
# Prints (on stdout, last line) the absolute directory holding the idx files
# (= DEST_DIR).  Idempotent: if all 4 files are present and pass `gzip -t`,
# nothing is downloaded.  If apt-get cannot find the package and we are root,
# `apt-get update` is run once and the download retried.  Needs no stdin.
set -euo pipefail

PKG=dataset-fashion-mnist
PKG_SUBDIR=usr/share/datasets/fashion-mnist
FILES=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz
       t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)

die() { echo "fetch_fashion_mnist.sh: error: $*" >&2; exit 2; }

[ $# -eq 1 ] && [ -n "$1" ] || die "usage: fetch_fashion_mnist.sh DEST_DIR"
DEST=$1

complete() {
    local f
    for f in "${FILES[@]}"; do
        [ -s "$DEST/$f" ] && gzip -t "$DEST/$f" 2>/dev/null || return 1
    done
}

mkdir -p "$DEST" || die "cannot create DEST_DIR '$DEST'"
DEST=$(cd "$DEST" && pwd)

if complete; then
    echo "$DEST"
    exit 0
fi

command -v apt-get >/dev/null || die "apt-get not found: this helper needs Debian/Ubuntu's apt"
command -v dpkg >/dev/null || die "dpkg not found: this helper needs Debian/Ubuntu's dpkg"

STAGE=$(mktemp -d "$DEST/.fetch.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
export DEBIAN_FRONTEND=noninteractive

download() {
    # APT::Sandbox::User=root: avoid the "_apt cannot access" warning when
    # root downloads into a folder the _apt user cannot write.
    (cd "$STAGE" && apt-get -q -o APT::Sandbox::User=root download "$PKG" </dev/null) >&2
}

if ! download; then
    if [ "$(id -u)" -eq 0 ]; then
        echo "fetch_fashion_mnist.sh: '$PKG' not downloadable, running apt-get update" >&2
        apt-get -q update </dev/null >&2 || die "apt-get update failed"
        download || die "apt-get download $PKG failed (package index has no $PKG?)"
    else
        die "apt-get download $PKG failed; run 'apt-get update' as root and retry"
    fi
fi

shopt -s nullglob
debs=("$STAGE"/"$PKG"_*.deb)
[ ${#debs[@]} -eq 1 ] || die "expected one $PKG .deb in $STAGE, found ${#debs[@]}"
dpkg -x "${debs[0]}" "$STAGE/root" || die "dpkg -x ${debs[0]} failed"

for f in "${FILES[@]}"; do
    [ -s "$STAGE/root/$PKG_SUBDIR/$f" ] || die "$f not found in ${debs[0]} (expected under /$PKG_SUBDIR)"
    gzip -t "$STAGE/root/$PKG_SUBDIR/$f" || die "$f in ${debs[0]} is corrupt"
done
cp "$STAGE/root/usr/share/doc/$PKG/copyright" "$DEST/copyright" 2>/dev/null || true
for f in "${FILES[@]}"; do
    mv -f "$STAGE/root/$PKG_SUBDIR/$f" "$DEST/$f"   # same filesystem: atomic
done
complete || die "files in '$DEST' are incomplete after extraction"
echo "$DEST"
