"""Alembic's upgrade / downgrade over the versions folder $PLANNER_ALEMBIC_VERSIONS (what
`planner export --to alembic` wrote), database $DATABASE_URL: `run.py upgrade|downgrade`."""
import os
import sys

from alembic import command
from alembic.config import Config

here = os.path.dirname(os.path.abspath(__file__))
cfg = Config()
cfg.set_main_option("script_location", here)
cfg.set_main_option("version_locations", os.environ["PLANNER_ALEMBIC_VERSIONS"])
cfg.set_main_option("sqlalchemy.url", os.environ["DATABASE_URL"].replace("postgres://", "postgresql+psycopg://", 1))
if sys.argv[1] == "upgrade":
    command.upgrade(cfg, "heads")
else:
    command.downgrade(cfg, "base")
