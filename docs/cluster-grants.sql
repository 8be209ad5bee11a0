-- The shared queue's database and its roles (mtrnn-watch(8), "Running on
-- several machines"). Run once as the PostgreSQL superuser, before the first
-- daemon starts:
--   psql -U postgres -v daemon_password=... -v status_password=... \
--        -v operator_password=... -f cluster-grants.sql
-- scripts/pg-scratch.sh sets up the tests' server with this very file, and
-- scripts/check-unit.sh checks that mtrnn-watch(8) shows it as it is.
\set ON_ERROR_STOP on
-- The daemons: they create, migrate and own the tables.
CREATE ROLE mtrnn LOGIN PASSWORD :'daemon_password';
CREATE DATABASE mtrnn OWNER mtrnn;
REVOKE ALL ON DATABASE mtrnn FROM PUBLIC;
\c mtrnn
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE, CREATE ON SCHEMA public TO mtrnn;
-- Read-only, for mtrnnctl status --cluster on monitoring hosts.
CREATE ROLE mtrnn_status LOGIN PASSWORD :'status_password';
GRANT CONNECT ON DATABASE mtrnn TO mtrnn_status;
GRANT USAGE ON SCHEMA public TO mtrnn_status;
ALTER DEFAULT PRIVILEGES FOR ROLE mtrnn IN SCHEMA public
    GRANT SELECT ON TABLES TO mtrnn_status;
-- Operators: status, and pause, resume and retry --cluster
-- (UPDATE on two tables: docs/cluster-operator-grants.sql).
CREATE ROLE mtrnn_operator LOGIN PASSWORD :'operator_password'
    IN ROLE mtrnn_status;
