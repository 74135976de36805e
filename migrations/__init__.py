"""Alembic migrations for the mirror schema (shipped with the package so that
`change-proxy db ...` works wherever it is installed)."""
