#!/usr/bin/env bash
# Creates .venv at the repository root and installs the pinned stack into it.
# Called by `make` through a stamp file keyed by the pins, so it runs once;
# each step also checks what is already there, so a rerun is quick.
#
# mmcv 2.1.0 has no wheel for torch 2.14 and its setup.py asks for C++17,
# while torch 2.14's headers need C++20: we build mmcv from its sdist with the
# flag raised to C++20 (with its CPU ops; FORCE_CUDA=1 with a CUDA toolkit
# builds the CUDA ops too). The built wheel is cached in $DN_MM_CACHE so a
# fresh clone on the same machine does not rebuild it (~12 min on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
VENV=.venv
CACHE=${DN_MM_CACHE:-$HOME/.cache/dn_mm}
pins() { grep -E "^$1==" requirements/runtime.txt | cut -d= -f3; }
TORCH=$(pins torch); MMCV=$(pins mmcv)

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP="$VENV/bin/python -m pip --disable-pip-version-check"
VPY="$VENV/bin/python"

echo "[install] torch $TORCH, torchvision"
$PIP install -q "torch==$TORCH" "torchvision==$(pins torchvision)"
# mmcv's build needs these in the venv (no build isolation: it compiles against our torch)
$PIP install -q "setuptools<70" wheel ninja

if ! $VPY -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '$MMCV'" 2>/dev/null; then
  WHEELS="$CACHE/wheels/torch-$TORCH"
  mkdir -p "$WHEELS"
  WHEEL=$(ls "$WHEELS"/mmcv-"$MMCV"-*.whl 2>/dev/null | head -1 || true)
  if [ -z "$WHEEL" ]; then
    echo "[install] building mmcv $MMCV with ops from source (about 12 minutes on 2 cores)"
    SRC=$(mktemp -d)
    $PIP download -q --no-deps --no-binary :all: --no-build-isolation "mmcv==$MMCV" -d "$SRC"
    tar xzf "$SRC"/mmcv-"$MMCV".tar.gz -C "$SRC"
    sed -i 's/-std=c++1[47]/-std=c++20/g' "$SRC/mmcv-$MMCV/setup.py"
    MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
      $PIP wheel -q --no-build-isolation --no-deps "$SRC/mmcv-$MMCV" -w "$SRC/wheel"
    mv "$SRC"/wheel/mmcv-*.whl "$WHEELS/"
    rm -rf "$SRC"
    WHEEL=$(ls "$WHEELS"/mmcv-"$MMCV"-*.whl | head -1)
  fi
  echo "[install] mmcv from $WHEEL"
  $PIP install -q --no-deps "$WHEEL"
  $PIP install -q addict packaging pyyaml yapf opencv-python
fi

echo "[install] OpenMMLab stack and test tools"
$PIP install -q -r requirements/runtime.txt -r requirements/tests.txt
# openmim without its dataset-download dependency, then its other dependencies with theirs
# (see requirements/mim.txt)
$PIP install -q --no-deps "$(grep -E '^openmim==' requirements/mim.txt)"
$PIP install -q -r <(grep -vE '^openmim==' requirements/mim.txt)
$PIP install -q --no-deps --no-build-isolation -e .
$VPY -c "import mmcv.ops, mmdet, mmpretrain, dn_mm; print('[install] ok: dn_mm', dn_mm.__version__)"
