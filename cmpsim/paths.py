"""Where the project's own folders are: schemas, scenarios, report templates."""

from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
SCHEMA_DIR = PROJECT_DIR / "schemas"
SCENARIO_DIR = PROJECT_DIR / "scenarios"
REPORT_DIR = PROJECT_DIR / "reports"
