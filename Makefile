# labellake: two commands for a new user.
#   make demo   set up (venv, deps, Delta jars, Airflow DB) and relabel youtube_spam through the Airflow DAG
#   make test   set up and run the test suite (what CI runs, after make lint)
#   make lint   ruff check, ruff format --check and mypy (configured in pyproject.toml)
# Set-up is idempotent and cached: after the first run, both work offline.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.labellake-installed
JARS   := .cache/jars/manifest.json
S3JARS := .cache/jars/cluster-manifest.json
ARCHIVE := .cache/jvm/.built
ASSETS := .cache/gx_assets/vendor/.complete
BROWSER := .cache/browser/.checked
S3SERVER := .cache/bin/versitygw
VERSITYGW := github.com/versity/versitygw/cmd/versitygw@v1.8.0

.PHONY: setup demo test lint clean

setup: $(STAMP) $(JARS) $(S3JARS) $(ARCHIVE) $(ASSETS) $(BROWSER) $(S3SERVER)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

$(JARS): $(STAMP)
	$(BIN)/python -m jobs.spark.jars

# hadoop-aws and the AWS SDK modules it uses, for a lakehouse on S3 (LABELLAKE_HOME=s3://...).
# Its own Ivy folder and manifest, no jar in common with Delta's: it resolves beside them.
$(S3JARS): $(STAMP)
	$(BIN)/python -m jobs.spark.jars cluster

# A class-data archive of a Spark driver's classes: every spark-submit starts ~2x faster.
# The text LF kernel's jar is on the classpath: a changed kernel needs a new archive.
$(ARCHIVE): $(JARS) $(S3JARS) lf_library/kernel/LfKernel.java
	$(BIN)/python -m jobs.spark.jvm_archive
	touch $@

# Data Docs' stylesheets and scripts from the npm registry, so the pages work offline.
$(ASSETS): $(STAMP)
	$(BIN)/python -m expectations.offline_assets

# Debian's chromium for the tests that open the reports in a real browser; without root or
# apt-get it is not installed, and those tests skip saying so.
$(BROWSER):
	mkdir -p $(dir $@)
	command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; } \
	  || echo "labellake: chromium not installed (needs root and apt-get): the browser tests will skip"
	touch $@

# The S3-compatible server the object-store tests start (versitygw, from the Go module proxy; about a
# minute to build). Without Go it is not built, and those tests skip saying so.
$(S3SERVER):
	@command -v go >/dev/null || { echo "labellake: no Go toolchain: the object-store tests will skip"; exit 0; }; \
	mkdir -p .cache/go-s3server $(dir $@) && cd .cache/go-s3server \
	  && { [ -f go.mod ] || go mod init labellake-s3server >/dev/null 2>&1; } \
	  && go get $(VERSITYGW) && go build -trimpath -ldflags "-s -w" -o ../bin/versitygw $(firstword $(subst @, ,$(VERSITYGW)))

demo: setup
	$(BIN)/labellake demo

test: setup
	$(BIN)/python -m pytest -n 2 --dist loadgroup --durations=25

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf lakehouse .airflow
