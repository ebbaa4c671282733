-- Runs once, on the first start of the postgres container: Airflow's metadata gets its own database.
create database airflow;
