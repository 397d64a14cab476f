# The two commands a newcomer runs: `make demo` and `make test`. Both set up
# .venv themselves on a fresh machine (tools/install_stack.sh) and reuse it
# afterwards: the stamp file is keyed by the requirement pins and the
# installer, so a second run installs nothing.
SHELL := /bin/bash
PY := .venv/bin/python
PINS := $(shell cat requirements/*.txt tools/install_stack.sh setup.py | sha1sum | cut -c1-12)
STAMP := .venv/.stamp-$(PINS)
DATA := data

.PHONY: setup test demo data clean-data bench gpu-check study study-screen study-converge trace

setup: $(STAMP)

$(STAMP):
	bash tools/install_stack.sh
	rm -f .venv/.stamp-* && touch $@

# two workers, a test file each at a time (module fixtures stay in one process), one thread each
test: $(STAMP)
	.venv/bin/ruff check .
	OMP_NUM_THREADS=1 $(PY) -m pytest tests -q -p no:cacheprovider -n 2 --dist loadfile

data: $(STAMP)
	$(PY) tools/prepare_demo_data.py --data-root $(DATA)

demo: $(STAMP) data
	$(PY) tools/demo.py --data-root $(DATA)

bench: $(STAMP)
	$(PY) benchmarks/run.py

# The norm study (README "Does DN-B hold up?"), two presets, each resumable (a rerun runs only
# what its JSON does not hold): the screen (every combination of DN-B's options, short runs)
# and the converge preset (runs long enough that BN converges). They write into docs/, where
# docs/study.md's tables and plots come from, so a study stopped in one session (and its JSON
# committed) continues in the next. Measured cost: see docs/study.md.
FMNIST := $(DATA)/fashion_mnist_raw
STUDY := $(PY) tools/analysis_tools/norm_study.py --data $(FMNIST)

$(FMNIST):
	bash tools/dataset_converters/fetch_fashion_mnist.sh $(FMNIST)

study: study-screen study-converge

study-screen: $(STAMP) | $(FMNIST)
	$(STUDY) --preset screen --out docs/norm_study/screen

study-converge: $(STAMP) | $(FMNIST)
	$(STUDY) --preset converge --out docs/norm_study/converge

# On a CUDA machine (README "Compile, mixed precision and GPUs"): layers on the GPU against the
# CPU float64 path, SyncBN over NCCL (2 GPUs), the benchmark eager and compiled, a short study
gpu-check: $(STAMP) | $(FMNIST)
	$(PY) benchmarks/gpu_check.py --device cuda --data $(FMNIST) --out work_dirs/gpu_check

# Why the old default DN-B diverged: what its SC-Modules read and generate, beside the new
# default and BN (lr 0.5, seed 0, 600 iterations; README "Does DN-B hold up?")
# (its JSON, 12 MB of per-layer series, stays in work_dirs; the figure docs/study.md shows is copied)
trace: $(STAMP) | $(FMNIST)
	$(PY) tools/analysis_tools/norm_trace.py --data $(FMNIST) --out work_dirs/norm_trace --lr 0.5 \
		--variant 'DN-B residual/ReLU/raw/none' 'DN-B residual/Sigmoid/normalized/none'
	cp work_dirs/norm_trace/norm_trace.png docs/norm_trace.png

clean-data:
	rm -rf $(DATA)
