#!/usr/bin/env bash
# Download the deepforest 2.1.0 wheel (demo data: NEON tree-crown images in
# deepforest/data/) without installing it, and print the wheel's path.
#
#   tools/dataset_converters/fetch_deepforest.sh DEST_DIR
#
# Idempotent: does nothing (but print the path) when the wheel is already in
# DEST_DIR.  Uses "$PYTHON -m pip" (default: python3).  The wheel's sha256 is
# checked against the PyPI file (PyPI files are immutable).
set -euo pipefail

VERSION=2.1.0
WHEEL=deepforest-${VERSION}-py3-none-any.whl
SHA256=8c2798d8e9be7f0004b194fe207b76c1d9fff6e711b3db67b9508dcd5d00ae54
PY=${PYTHON:-python3}

if [ $# -ne 1 ] || [ -z "$1" ]; then
    echo "usage: $0 DEST_DIR" >&2
    exit 2
fi
DEST=$1
mkdir -p "$DEST"

check() {
    local got
    got=$("$PY" -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1")
    [ "$got" = "$SHA256" ]
}

if [ -f "$DEST/$WHEEL" ] && check "$DEST/$WHEEL"; then
    echo "$DEST/$WHEEL"
    exit 0
fi
rm -f "$DEST/$WHEEL"
"$PY" -m pip download --no-deps --only-binary=:all: "deepforest==${VERSION}" \
    -d "$DEST" >&2
if [ ! -f "$DEST/$WHEEL" ]; then
    echo "error: pip did not produce $DEST/$WHEEL" >&2
    exit 1
fi
if ! check "$DEST/$WHEEL"; then
    echo "error: sha256 of $DEST/$WHEEL is not $SHA256" >&2
    exit 1
fi
echo "$DEST/$WHEEL"
