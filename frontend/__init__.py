"""Static pages served by the server: the candidate page (and, later, the HR dashboard)."""

from pathlib import Path

FRONTEND_DIR = Path(__file__).resolve().parent
