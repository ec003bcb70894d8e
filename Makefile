# tokmesh-deploy developer entry points.  Both set up what they need (.ci/setup).
DEST ?= my-deploy
PYTEST_ARGS ?=

.PHONY: render test setup

setup:
	bash .ci/setup

render: setup ## Render the default deployment tree into $(DEST)
	.venv/bin/copier copy --trust --defaults --vcs-ref HEAD . $(DEST)

test: setup ## Run the whole test suite
	.venv/bin/python -m pytest $(PYTEST_ARGS)
