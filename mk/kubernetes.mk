# Scale-out files rendered from vigil.toml with everything else (render/kubernetes.py, render/prometheus.py):
# the Kubernetes objects in deploy/kubernetes/ and prometheus/prometheus.remote-write.yml (check-render diffs
# them); check-kubernetes validates the Compose profile that loads the remote-write config.
.PHONY: deploy-files check-kubernetes
CHECKS += check-kubernetes

deploy-files: render ## same as make render (deploy/kubernetes/ is rendered with everything else)

check-kubernetes: venv ## the Compose profile `scale` (Mimir, remote-write config) validates
	@test -n "$(COMPOSE_CHECK)" || { echo "No Compose binary in $(VENV): run 'make venv'." >&2; exit 1; }
	$(COMPOSE_CHECK) --env-file .env.example -f docker-compose.yml --profile scale config --quiet
