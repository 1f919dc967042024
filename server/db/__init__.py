"""Storage: SQLAlchemy Core tables, engines for SQLite and PostgreSQL, alembic migrations."""
