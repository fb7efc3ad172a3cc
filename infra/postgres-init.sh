#!/bin/bash
# docker compose: one login role per service, with its password from the environment, owning
# its own database and nothing else (no superuser); CONNECT to every database is revoked from
# PUBLIC, so a service cannot open another's. scripts/infra.py --profile secure does the same
# without Docker. Network connections ask for scram-sha-256 passwords (POSTGRES_HOST_AUTH_METHOD).
set -euo pipefail
for service in identity billing payments notify gateway; do
    var="$(echo "$service" | tr '[:lower:]' '[:upper:]')_DB_PASSWORD"
    password="${!var:?$var is not set}"
    psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d postgres \
         -v role="$service" -v password="$password" <<'SQL'
SET password_encryption = 'scram-sha-256';
CREATE ROLE :"role" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD :'password';
CREATE DATABASE :"role" OWNER :"role";
REVOKE ALL ON DATABASE :"role" FROM PUBLIC;
SQL
done
