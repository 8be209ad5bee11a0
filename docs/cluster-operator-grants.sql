-- What mtrnnctl pause, resume and retry --cluster write (mtrnn-watch(8),
-- "Running on several machines"). Run as the superuser or as mtrnn in the
-- database mtrnn once the first daemon has created the tables:
--   psql -U mtrnn -d mtrnn -f cluster-operator-grants.sql
GRANT UPDATE ON mtrnn_control, mtrnn_jobs TO mtrnn_operator;
