# tokmesh-deploy developer entry points.  Both set up what they need (.ci/setup).
DEST ?= my-deploy
PYTEST_ARGS ?=

.PHONY: render test setup docs docs-serve

setup:
	bash .ci/setup

render: setup ## Render the default deployment tree into $(DEST)
	.venv/bin/copier copy --trust --defaults --vcs-ref HEAD . $(DEST)

test: setup ## Run the whole test suite
	.venv/bin/python -m pytest $(PYTEST_ARGS)

docs: setup ## Build the documentation site into build/site (strict: a warning fails)
	.venv/bin/mkdocs build --strict

docs-serve: setup ## Serve the documentation at http://127.0.0.1:8000, rebuilt on every change
	.venv/bin/mkdocs serve
