# Superset's configuration under `make superset` (deploy/superset/superset.sh points
# SUPERSET_CONFIG_PATH here). Everything comes from the environment the
# script sets: nothing in this file is a secret.
import os

_data = os.environ["SUPERSET_DATA_DIR"]

# Signs sessions and encrypts the stored connection: generated once per
# data directory by superset.sh (SUPERSET_SECRET_KEY overrides it).
SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]

# The metadata database (users, dashboards, charts, datasets): SQLite in the
# data directory.
SQLALCHEMY_DATABASE_URI = "sqlite:///" + os.path.join(_data, "superset.db")
DATA_DIR = _data

# No telemetry, no example data, no CDN: the served pages use the assets the
# package ships.
SQLALCHEMY_TRACK_MODIFICATIONS = False
FEATURE_FLAGS = {"DASHBOARD_RBAC": False}
ROW_LIMIT = 50000
SUPERSET_WEBSERVER_TIMEOUT = 120
RATELIMIT_STORAGE_URI = "memory://"
