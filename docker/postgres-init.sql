-- The Hive metastore's own database beside Airflow's (LABELLAKE_METASTORE_URL points at it);
-- Spark creates its tables on first use (datanucleus.schema.autoCreateAll).
CREATE DATABASE metastore;
