# The two commands a newcomer runs: `make demo` and `make test`. Both set up
# .venv themselves on a fresh machine (tools/install_stack.sh) and reuse it
# afterwards: the stamp file is keyed by the requirement pins and the
# installer, so a second run installs nothing.
SHELL := /bin/bash
PY := .venv/bin/python
PINS := $(shell cat requirements/*.txt tools/install_stack.sh setup.py | sha1sum | cut -c1-12)
STAMP := .venv/.stamp-$(PINS)
DATA := data

.PHONY: setup test demo data clean-data bench study

setup: $(STAMP)

$(STAMP):
	bash tools/install_stack.sh
	rm -f .venv/.stamp-* && touch $@

test: $(STAMP)
	.venv/bin/ruff check .
	$(PY) -m pytest tests -q -p no:cacheprovider

data: $(STAMP)
	$(PY) tools/prepare_demo_data.py --data-root $(DATA)

demo: $(STAMP) data
	$(PY) tools/demo.py --data-root $(DATA)

bench: $(STAMP)
	$(PY) benchmarks/run.py

# The norm study (README "Does DN-B hold up?"): 57 CPU-minutes, under an hour on 2 cores
study: $(STAMP)
	bash tools/dataset_converters/fetch_fashion_mnist.sh $(DATA)/fashion_mnist_raw
	$(PY) tools/analysis_tools/norm_study.py --data $(DATA)/fashion_mnist_raw --preset cpu \
		--out work_dirs/norm_study

clean-data:
	rm -rf $(DATA)
