PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test lint reproduce quick bench tables clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

test: install
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check lpg_meta tests benchmarks
	$(VENV)/bin/mypy

# The default suite (benchmarks/cpu.yaml): tuned on its own seed, then 6 seeds a cell (its header),
# about 30 minutes on 2 cores.
# Finished runs are skipped, so a second call only rewrites the tables.
reproduce: install
	$(VENV)/bin/lpg-meta run benchmarks/cpu.yaml --workers 2

# ce against lpg on long-tail MNIST-1D (3 seeds): about 2.5 minutes of CPU time (see README).
quick: install
	$(VENV)/bin/lpg-meta reproduce

# results/cpu/ (tables, claims, plots, theory) from the committed runs.csv, curves.csv and runs.json.
tables: install
	$(VENV)/bin/lpg-meta table results/cpu/runs.csv --write
	$(VENV)/bin/lpg-meta claims results/cpu/runs.csv > /dev/null
	$(VENV)/bin/lpg-meta plot results/cpu/runs.csv
	$(VENV)/bin/lpg-meta theory results/cpu/runs.csv > /dev/null

bench: install
	$(PY) benchmarks/bench_meta_step.py

clean:
	rm -rf $(VENV) build *.egg-info
