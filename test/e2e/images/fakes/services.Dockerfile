# One target a fake service: FROM owp-e2e/fakes with the entrypoint, command, user and paths of
# the real image it stands in for, so the compose file's commands, volumes and healthchecks apply
# unchanged. Built with an empty context: `docker build --target fake-openwebui`.
FROM owp-e2e/fakes:e2e AS fake-openwebui
WORKDIR /app/backend
RUN mkdir -p /app/backend/data
# the schema revision this version migrates the database to at start (alembic_version)
ENV PORT=8080 FAKE_SCHEMA_REVISION=0002_e2e_archived
EXPOSE 8080
CMD ["owp-fake", "openwebui"]

# the broken release's Open WebUI is fine (only the GraphRAG processor is broken). Its schema is the
# first release's: on a stack an upgrade moved to the next release (0003) it cannot start (as the
# real Open WebUI refuses a revision it does not know), so the files that deploy it (rollback.e2e,
# F-E2E-2) run before any upgrade on their lane (harness/lane-plan.ts E2E_BEFORE)
FROM fake-openwebui AS fake-openwebui-broken

# the next release (the upgrade under load): one migration forward
FROM fake-openwebui AS fake-openwebui-next
ENV FAKE_SCHEMA_REVISION=0003_e2e_tag

# a release that migrates the schema and is broken: healthy and smoke-clean (/health), its API and every chat fail
FROM fake-openwebui AS fake-openwebui-migrates
ENV FAKE_SCHEMA_REVISION=0004_e2e_folder FAKE_BROKEN=chat

FROM owp-e2e/fakes:e2e AS fake-lightllm
WORKDIR /lightllm
EXPOSE 8000
CMD ["python", "-m", "lightllm.server.api_server", "--host", "0.0.0.0", "--port", "8000", "--model_dir", "/models/default"]

FROM owp-e2e/fakes:e2e AS fake-graphrag-processor
RUN groupadd -r -g 10001 app && useradd -r -u 10001 -g app -m -d /home/app app \
 && mkdir -p /app /var/lib/graphrag /var/lib/celery/beat && chown app:app /var/lib/graphrag /var/lib/celery/beat
WORKDIR /app
USER 10001:10001
EXPOSE 8010
CMD ["uvicorn", "graphrag.api:app", "--host", "0.0.0.0", "--port", "8010"]

# the "broken release": healthy at its first check, then failing (what validate-prod must catch)
FROM fake-graphrag-processor AS fake-graphrag-processor-broken
ENV FAKE_BROKEN=degrades

FROM owp-e2e/fakes:e2e AS fake-mcp-server
RUN groupadd -r -g 10001 app && useradd -r -u 10001 -g app -m -d /home/app app && mkdir -p /app
WORKDIR /app
USER 10001:10001
EXPOSE 8020
CMD ["uvicorn", "mcp_server.app:app", "--host", "0.0.0.0", "--port", "8020"]

# the broken release's MCP server is fine: only the GraphRAG processor is broken
FROM fake-mcp-server AS fake-mcp-server-broken

# the next releases of the GraphRAG image and the MCP server: the same fakes under new tags
FROM fake-graphrag-processor AS fake-graphrag-processor-next
FROM fake-mcp-server AS fake-mcp-server-next

FROM owp-e2e/fakes:e2e AS fake-qdrant
RUN mkdir -p /qdrant/storage /qdrant/snapshots /qdrant/config && ln -s /opt/owp-fakes/bin/qdrant /qdrant/entrypoint.sh
WORKDIR /qdrant
EXPOSE 6333 6334
CMD ["./entrypoint.sh"]

FROM owp-e2e/fakes:e2e AS fake-neo4j
RUN groupadd -r -g 7474 neo4j && useradd -r -u 7474 -g neo4j -d /var/lib/neo4j neo4j \
 && mkdir -p /data /logs /startup /var/lib/neo4j/bin && chown neo4j:neo4j /data /logs \
 && ln -s /opt/owp-fakes/bin/neo4j /startup/docker-entrypoint.sh && ln -s /opt/owp-fakes/bin/cypher-shell /var/lib/neo4j/bin/cypher-shell
WORKDIR /var/lib/neo4j
EXPOSE 7474 7687
ENTRYPOINT ["/startup/docker-entrypoint.sh"]
CMD ["neo4j"]

FROM owp-e2e/fakes:e2e AS fake-grafana
RUN useradd -r -u 472 -g 0 -m -d /usr/share/grafana grafana && mkdir -p /var/lib/grafana /etc/grafana/provisioning \
 && chown -R 472:0 /var/lib/grafana && ln -s /opt/owp-fakes/bin/grafana /run.sh
WORKDIR /usr/share/grafana
USER 472
EXPOSE 3000
ENTRYPOINT ["/run.sh"]

FROM owp-e2e/fakes:e2e AS fake-otel-collector
RUN ln -s /opt/owp-fakes/bin/otelcol-contrib /otelcol-contrib && mkdir -p /etc/otelcol-contrib
USER 10001
EXPOSE 4317 4318 8888 8889 13133
ENTRYPOINT ["/otelcol-contrib"]
CMD ["--config", "/etc/otelcol-contrib/config.yaml"]

FROM owp-e2e/fakes:e2e AS fake-celery-exporter
USER 65534
EXPOSE 9808
ENTRYPOINT ["celery-exporter"]
