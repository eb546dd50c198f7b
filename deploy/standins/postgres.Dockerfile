# A local stand-in for the official postgres:15-bookworm image, for machines that reach
# Debian's package mirror but no container registry (like this project's CI box). It honours
# the parts of that image's interface docker-compose.yml uses: POSTGRES_USER,
# POSTGRES_PASSWORD, POSTGRES_DB, data in /var/lib/postgresql/data, port 5432, pg_isready.
# Built and tagged postgres:15-bookworm by scripts/compose_check.sh only when that image is
# missing; a real deployment pulls the official image and never uses this file.
FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/postgresql/data /run/postgresql \
 && chown -R postgres:postgres /var/lib/postgresql /run/postgresql
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
COPY standins/postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh
USER postgres
EXPOSE 5432
ENTRYPOINT ["/bin/sh", "/usr/local/bin/postgres-entrypoint.sh"]
