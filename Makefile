# Python 3.11, 3.12 or 3.13: the first of python3, python3.13, python3.12, python3.11 on PATH whose
# version fits (or PYTHON=/path/to/python3.X). An existing .venv of another Python is refused, with the fix.
SUPPORTED := 3.11 3.12 3.13
PYTHON_GIVEN := $(origin PYTHON)
ifeq ($(PYTHON_GIVEN),undefined)
PYTHON := $(shell for p in python3 python3.13 python3.12 python3.11; do \
	v=`$$p -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null` || continue; \
	if echo " $(SUPPORTED) " | grep -q " $$v "; then echo $$p; break; fi; done)
endif
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
VERSION_OF = -c 'import sys; print("%d.%d" % sys.version_info[:2])'

# TORCH=cpu installs PyTorch's CPU-only wheels from its own index (a torch of 0.7 GB instead of
# 1.2 GB plus 4.1 GB of CUDA libraries and triton); the default takes torch from PyPI, CUDA build.
TORCH ?= default
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
TORCH_PIN := $(shell sed -n 's/^torch==//p' constraints.txt)
TORCHVISION_PIN := $(shell sed -n 's/^torchvision==//p' constraints.txt)

.PHONY: install check-python test lint reproduce quick bench tables clean

install: $(STAMP)

# Runs before every target that installs: says which Python is used, refuses a mismatched .venv.
check-python:
	@case "$(TORCH)" in default|cpu) ;; *) echo "make: TORCH=$(TORCH): use TORCH=cpu (CPU-only wheels) or leave it out" >&2; exit 1;; esac
	@if [ -z "$(PYTHON)" ]; then \
		echo "make: no Python 3.11-3.13 found (tried python3, python3.13, python3.12, python3.11); install one (e.g. apt-get install python3 python3-venv) or pass PYTHON=/path/to/python3.12" >&2; exit 1; fi
	@want=$$($(PYTHON) $(VERSION_OF) 2>/dev/null) || { echo "make: PYTHON=$(PYTHON) does not run; pass PYTHON=python3.12 (3.11-3.13)" >&2; exit 1; }; \
	case " $(SUPPORTED) " in *" $$want "*) ;; *) echo "make: PYTHON=$(PYTHON) is Python $$want; lpg-meta needs 3.11-3.13: pass PYTHON=python3.12 (or 3.11, 3.13)" >&2; exit 1;; esac; \
	if [ -e $(VENV) ]; then \
		have=$$($(PY) $(VERSION_OF) 2>/dev/null) || { echo "make: $(VENV) is broken (its Python does not run); remove it with 'make clean' and run make again" >&2; exit 1; }; \
		case " $(SUPPORTED) " in *" $$have "*) ;; *) echo "make: $(VENV) is Python $$have, not 3.11-3.13; remove it with 'make clean' and run make again" >&2; exit 1;; esac; \
		if [ "$(PYTHON_GIVEN)" != undefined ] && [ "$$have" != "$$want" ]; then \
			echo "make: $(VENV) is Python $$have but PYTHON=$(PYTHON) is $$want; run 'make clean' first to rebuild it with $$want, or drop PYTHON=" >&2; exit 1; fi; \
		echo "make: using $(VENV) (Python $$have)"; \
	else echo "make: using $(PYTHON) (Python $$want, $$(command -v $(PYTHON))) for a new $(VENV)"; fi

$(STAMP): pyproject.toml constraints.txt | check-python
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@if [ "$(TORCH)" = cpu ]; then \
		echo "make: installing torch $(TORCH_PIN)+cpu and torchvision $(TORCHVISION_PIN)+cpu from $(TORCH_CPU_INDEX) (about 0.2 GB to download; a .venv of about 1.3 GB)"; \
		$(PY) -m pip install --index-url $(TORCH_CPU_INDEX) torch==$(TORCH_PIN)+cpu torchvision==$(TORCHVISION_PIN)+cpu || exit 1; \
	else \
		echo "make: installing lpg-meta, torch $(TORCH_PIN) from PyPI with its CUDA libraries (3.2 GB of wheels, a 5.9 GB .venv; about 5 minutes); a CPU-only install is 'make install TORCH=cpu' (about 1.3 GB)"; fi
	$(PY) -m pip install --progress-bar on -c constraints.txt -e '.[test]'
	@echo "make: $(VENV) holds $$(du -sh $(VENV) | cut -f1)"
	touch $(STAMP)

# pytest exits 5 when no test ran, which fails make (and CI) like a failed test.
test: install
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check lpg_meta tests benchmarks
	$(VENV)/bin/mypy

# The default suite (benchmarks/cpu.yaml): tuned on its own seed, then 6 seeds a cell (its header gives
# the trade-off); it took 4,763 s with the install on a 2-core AVX2 machine, 6,030 s for the committed
# results/cpu with other jobs beside it (results/cpu/RUN.md).
# Finished runs are skipped, so a second call only rewrites the tables.
reproduce: install
	$(VENV)/bin/lpg-meta run cpu --workers 2

# `lpg-meta quick`: ce against lpg on long-tail MNIST-1D (3 seeds), about 2.5 minutes (see README).
quick: install
	$(VENV)/bin/lpg-meta quick

# results/cpu/ (tables, claims, plots, theory) from the committed runs.csv, curves.csv.gz and runs.json.
# plots/ holds only generated figures: it is emptied first, so a figure no longer drawn does not linger.
tables: install
	$(VENV)/bin/lpg-meta table results/cpu/runs.csv --write
	$(VENV)/bin/lpg-meta claims results/cpu/runs.csv > /dev/null
	rm -rf results/cpu/plots
	$(VENV)/bin/lpg-meta plot results/cpu/runs.csv
	$(VENV)/bin/lpg-meta theory results/cpu/runs.csv > /dev/null

bench: install
	$(PY) benchmarks/bench_meta_step.py

clean:
	rm -rf $(VENV) build *.egg-info
