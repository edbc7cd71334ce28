# The deploy kit's entry points. Pass flags through with ARGS, e.g. make deploy-prod ARGS="--dry-run".
# "--" after each script: Node 20 reads --env-file anywhere before a "--" and would take it for itself.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
export PATH := $(CURDIR)/.tools/bin:$(CURDIR)/node_modules/.bin:$(PATH)
TSX := tsx
ARGS ?=


.PHONY: help init setup test test-unit typecheck lint e2e deploy-prod deploy-k8s deploy-docker mirror-images \
        build-images helm-install validate-prod test-graphrag load-test backup restore dr-drill scan \
        tls-selfsigned sync-monitoring bench e2e-setup

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

node_modules/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

init: node_modules/.stamp ## write .env with strong random secrets (asks the domain and the LLM on a terminal)
	$(TSX) scripts/init.ts -- $(ARGS)

setup: node_modules/.stamp ## install npm deps, helm v4/v3 and the Debian tools the tests use
	$(TSX) scripts/setup.ts -- $(ARGS)

typecheck: node_modules/.stamp ## TypeScript strict check
	npm run --silent typecheck

# The e2e stack suite mostly waits on healthchecks and image builds: it starts right after setup,
# beside the typecheck and the other suites; its log (quiet unless a test fails) is printed after
# them, then how long each part took. The typecheck and the engine-free suites run at a lower CPU
# priority (nice): the stacks' healthchecks and the kit's validation keep the timeouts users run
# with, so they come first, and the rest takes the CPU the stacks leave. The load generator's
# accuracy tests (vitest project `timing`) run last, on a machine the other suites have left.
# CI shows only the tail of a run: the failed tests of the engine-free and timing suites, or the
# errors outside tests that failed them, are listed again, one line each, right before the summary
# (test/helpers/failures.ts reads their JSON reports and their output, kept in .cache/).
REPORT := --reporter=default --reporter=json --outputFile.json
test: node_modules/.stamp ## setup, typecheck, then every suite, the e2e stack suite beside the rest (what CI runs)
	@mkdir -p .cache; t0=$$SECONDS; \
	  $(TSX) scripts/setup.ts; t_setup=$$((SECONDS-t0)); \
	  $(TSX) test/e2e/harness/lanes.ts > .cache/e2e.log 2>&1 & e2e=$$!; \
	  t1=$$SECONDS; nice -n 10 npm run --silent typecheck && tc=0 || tc=$$?; t_tc=$$((SECONDS-t1)); \
	  t2=$$SECONDS; rm -f .cache/engine-free.json .cache/timing.json .cache/engine-free.log .cache/timing.log; nice -n 10 npx vitest run --project engine-free $(REPORT)=.cache/engine-free.json 2>&1 | tee .cache/engine-free.log && unit=0 || unit=$$?; t_unit=$$((SECONDS-t2)); \
	  wait $$e2e && e2e_rc=0 || e2e_rc=$$?; t_e2e=$$((SECONDS-t1)); \
	  t3=$$SECONDS; npx vitest run --project timing $(REPORT)=.cache/timing.json 2>&1 | tee .cache/timing.log && timing=0 || timing=$$?; t_timing=$$((SECONDS-t3)); \
	  echo "=== e2e stack suite (make e2e) ==="; cat .cache/e2e.log; \
	  test $$unit -eq 0 || $(TSX) test/helpers/failures.ts "engine-free suites" .cache/engine-free.json .cache/engine-free.log || true; \
	  test $$timing -eq 0 || $(TSX) test/helpers/failures.ts "timing suites" .cache/timing.json .cache/timing.log || true; \
	  echo "make test took $$((SECONDS-t0))s: setup $${t_setup}s, typecheck $${t_tc}s, engine-free suites $${t_unit}s, e2e suite $${t_e2e}s beside them, timing suites $${t_timing}s after"; \
	  echo "typecheck: exit $$tc; engine-free suites: exit $$unit; e2e stack suite: exit $$e2e_rc; timing suites: exit $$timing"; \
	  test $$tc -eq 0 && test $$unit -eq 0 && test $$e2e_rc -eq 0 && test $$timing -eq 0

test-unit: node_modules/.stamp ## every suite but the e2e stack suite, without setup
	npx vitest run

lint: setup typecheck ## helm lint, promtool, amtool, compose config
	$(TSX) scripts/lint.ts -- $(ARGS)

e2e: setup ## the end-to-end stack suite alone, on its own Docker engine (root), two compose projects at once
	$(TSX) test/e2e/harness/lanes.ts -- $(ARGS)

e2e-setup: setup ## prepare the e2e engine, Compose v2 and stand-in images (cached); --keep/--stop
	$(TSX) test/e2e/harness/setup.ts -- $(ARGS)

deploy-prod: node_modules/.stamp ## deploy, auto-detecting Kubernetes or Docker Compose
	$(TSX) scripts/deploy.ts -- $(ARGS)

deploy-k8s: node_modules/.stamp ## deploy to the current Kubernetes context
	$(TSX) scripts/deploy.ts -- --kubernetes $(ARGS)

deploy-docker: node_modules/.stamp ## deploy with Docker Compose on this host
	$(TSX) scripts/deploy.ts -- --docker-compose $(ARGS)

build-images: node_modules/.stamp ## build (and with ARGS=--push push) the custom images
	$(TSX) scripts/build-images.ts -- $(ARGS)

mirror-images: node_modules/.stamp ## copy every pinned image into a private registry (ARGS="--registry R [--dry-run]")
	$(TSX) scripts/mirror-images.ts -- $(ARGS)

helm-install: node_modules/.stamp ## helm upgrade --install of infra releases and the chart
	$(TSX) scripts/helm-install.ts -- $(ARGS)

validate-prod: node_modules/.stamp ## health and smoke checks of a running deployment
	$(TSX) scripts/validate-prod.ts -- $(ARGS)

test-graphrag: node_modules/.stamp ## validate the GraphRAG component only
	$(TSX) scripts/validate-prod.ts -- --component graphrag $(ARGS)

load-test: node_modules/.stamp ## a safe HTTP and LLM load profile against the deployment
	$(TSX) scripts/load-test.ts -- --profile default $(ARGS)

backup: node_modules/.stamp ## one platform set of every store: databases, files, encrypted .env (cron-safe)
	$(TSX) scripts/backup.ts -- $(ARGS)

restore: node_modules/.stamp ## restore a backup set (ARGS="--from latest --yes")
	$(TSX) scripts/restore.ts -- $(ARGS)

dr-drill: node_modules/.stamp ## restore the newest platform set into a scratch project beside production, validate, tear down
	$(TSX) scripts/dr-drill.ts -- $(ARGS)

scan: node_modules/.stamp ## trivy config/image scan and npm audit
	$(TSX) scripts/scan.ts -- $(ARGS)

tls-selfsigned: ## a self-signed certificate for a first run (compose/nginx/certs)
	$(TSX) scripts/tls-selfsigned.ts -- $(ARGS)

sync-monitoring: ## copy rules and dashboards from config/ into the chart
	$(TSX) scripts/sync-monitoring.ts -- $(ARGS)

bench: setup ## benchmarks: ratios against peers, never asserted
	for f in bench/*.bench.ts; do $(TSX) $$f; done
