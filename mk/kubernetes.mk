# Scale-out files generated from the sources of truth (deploy/generate.py): the Kubernetes objects in
# deploy/kubernetes/ and prometheus/prometheus.remote-write.yml. check-kubernetes = regenerate and diff.
.PHONY: deploy-files check-kubernetes
CHECKS += check-kubernetes

deploy-files: venv ## regenerate deploy/kubernetes/ and prometheus/prometheus.remote-write.yml
	$(BIN)/python deploy/generate.py

check-kubernetes: venv ## fail if deploy/kubernetes/ or prometheus.remote-write.yml is not regenerated
	$(BIN)/python deploy/generate.py --check
	$(COMPOSE_CHECK) --env-file .env.example -f docker-compose.yml --profile scale config --quiet
