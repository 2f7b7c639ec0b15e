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
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

## run: the main job (an example edit of a bundled photo until the TUI lands; ARGS= passes options)
run: $(STAMP)
	$(VENV)/bin/chatedit edit coffee --find "the cup" --replace-with "a teapot" \
		-o out/coffee-teapot.png --mask-out out/coffee-teapot-mask.png $(ARGS)

## test: the whole test suite, offline
test: $(STAMP)
	$(PY) -m pytest -q $(ARGS)

bench: $(STAMP)
	$(PY) benchmarks/bench_tools.py $(ARGS)

clean-venv:
	rm -rf $(VENV)
