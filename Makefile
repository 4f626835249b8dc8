# Everything the project needs is installed from scratch into .venv by `make install`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Parallel test workers; the suites are independent (each test builds its own database).
WORKERS ?= 2

.PHONY: install lint format test demo bench lock clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

format: install
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

test: lint
	$(BIN)/pytest -n $(WORKERS) --dist loadgroup $(PYTEST_ARGS)

demo: install
	$(BIN)/lmsbridge demo

bench: install
	$(BIN)/python benchmarks/run_all.py

# Re-resolve the pinned set after changing pyproject.toml (needs the package registry).
lock:
	rm -rf /tmp/lmsbridge-lock && $(PYTHON) -m venv /tmp/lmsbridge-lock
	/tmp/lmsbridge-lock/bin/pip install --quiet -e '.[dev]'
	/tmp/lmsbridge-lock/bin/pip install --quiet --upgrade setuptools wheel && /tmp/lmsbridge-lock/bin/pip freeze --all --exclude-editable | grep -v -E '^(lmsbridge|pip)==' > requirements.lock

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
