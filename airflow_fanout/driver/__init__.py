"""The fan-out driver: runs under spark-submit. Imports pyspark and delta only, never airflow."""
