"""The Airflow UI part: a page that shows each fan-out task's sinks as a graph (``ui``)."""
