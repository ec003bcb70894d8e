# tokmesh-deploy developer entry points.  Both set up what they need (.ci/setup).
DEST ?= my-deploy
PYTEST_ARGS ?=

.PHONY: render test test-fast bench setup cluster docs docs-serve docs-setup figures

setup:
	bash .ci/setup

render: setup ## Render the default deployment tree into $(DEST)
	.venv/bin/copier copy --trust --defaults --vcs-ref HEAD . $(DEST)

cluster: setup ## Build the tests' Kubernetes control plane, once per pinned version (tens of minutes cold)
	bash tests/cluster/build.sh >/dev/null

test: setup cluster ## Run the whole test suite
	.venv/bin/python -m pytest $(PYTEST_ARGS)

test-fast: setup ## Everything but the runtime and checker tests, on every core (under a minute)
	.venv/bin/python -m pytest -n auto -m "not integration and not checkers" $(PYTEST_ARGS)

bench: setup ## What the template costs, as ratios against references measured in the same run
	.venv/bin/python bench/run.py

# The site needs only its own pins (requirements-docs.lock), not the test suite's tools.
docs-setup:
	@test -f .venv-docs/.installed-lock && cmp -s requirements-docs.lock .venv-docs/.installed-lock || { \
		$${PYTHON:-python3} -m venv .venv-docs && \
		.venv-docs/bin/python -m pip install -q --disable-pip-version-check -r requirements-docs.lock && \
		cp requirements-docs.lock .venv-docs/.installed-lock; }

docs: docs-setup ## Build the documentation site into build/site (strict: a warning fails)
	.venv-docs/bin/mkdocs build --strict

docs-serve: docs-setup ## Serve the documentation at http://127.0.0.1:8000, rebuilt on every change
	.venv-docs/bin/mkdocs serve

figures: setup ## Measure the docs' figures again (checker tests, bench) and keep them, dated, in docs/figures.json
	.venv/bin/python -m pytest -q tests/test_checkers.py
	.venv/bin/python bench/figures.py keep-tests
	.venv/bin/python bench/run.py --json build/bench.json
	.venv/bin/python bench/figures.py keep-bench build/bench.json
