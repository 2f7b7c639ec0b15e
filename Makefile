# The two commands a newcomer needs: `make run` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
ARGS   ?=

.PHONY: run test edit bench clean-venv

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[dev,cluster]'
	@touch $(STAMP)

## run: the chat TUI on a bundled photo (ARGS="photo.jpg --profile lite" to choose); with no
## terminal (CI, a pipe) it plays the example sessions headless and prints where their results are
run: $(STAMP)
	@if [ -t 0 ] && [ -t 1 ]; then \
		$(VENV)/bin/chatedit $(ARGS); \
	else \
		echo "no terminal here: playing sessions/*.yaml headless instead of opening the TUI"; \
		$(VENV)/bin/chatedit run sessions/*.yaml --out out/sessions; \
	fi

## test: the whole test suite, offline
test: $(STAMP)
	$(PY) -m pytest -q $(ARGS)

bench: $(STAMP)
	$(PY) benchmarks/bench_session.py $(ARGS)

clean-venv:
	rm -rf $(VENV)
