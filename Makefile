# The two set-up commands of the README: `make demo` (the main job on the embedded default) and
# `make test`. Both create .venv from the locked versions in constraints.txt on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test bench clean

$(BIN)/llammas: pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# the CPU build of torch first, so nothing pulls the CUDA wheels
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e ".[test]"
	touch $@

demo: $(BIN)/llammas
	$(BIN)/llammas run pipeline --config configs/demo.yaml

# two pytest-xdist workers: most tests wait on servers and subprocesses part of the time (serial: 26 min,
# two workers: 17 min on 2 cores); tests sharing an expensive fixture stay on one worker (conftest.py)
test: $(BIN)/llammas
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup

bench: $(BIN)/llammas
	$(BIN)/python benchmarks/corpus_throughput.py
	$(BIN)/python benchmarks/train_throughput.py

clean:
	rm -rf .llammas
