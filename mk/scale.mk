# Scale-out: Mimir (Compose profile `scale`) and the capacity benchmark of one Prometheus (docs/scaling.md).
.PHONY: up-scale bench-capacity

up-scale: ## start the stack with Mimir (profile scale) and Prometheus remote-writing to it
	@scripts/preflight.sh dev
	COMPOSE_PROFILES=scale PROMETHEUS_CONFIG=prometheus.remote-write.yml \
	  $(COMPOSE) up -d --build --wait --wait-timeout $(UP_TIMEOUT)
	@scripts/urls.sh

bench-capacity: venv tools ## memory, CPU and rule time of one Prometheus at 100k/500k/1M series (~15 min)
	$(BIN)/python bench/capacity.py
