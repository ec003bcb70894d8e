# tokmesh-deploy developer entry points.  Both set up what they need (.ci/setup).
DEST ?= my-deploy
PYTEST_ARGS ?=

.PHONY: render test test-fast bench setup cluster docs docs-serve

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

docs: setup ## Build the documentation site into build/site (strict: a warning fails)
	.venv/bin/mkdocs build --strict

docs-serve: setup ## Serve the documentation at http://127.0.0.1:8000, rebuilt on every change
	.venv/bin/mkdocs serve
