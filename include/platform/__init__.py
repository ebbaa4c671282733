"""The platform underneath every job: database and roles, settings, migrations, partitions,
Binance REST and its weight pool, symbols, times, alerts and Airflow assets."""
