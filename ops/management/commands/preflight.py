"""Checks that PostgreSQL and Redis answer before anything else runs, and says how to fix it if not.

`--create-database` also creates the configured database when the server is up but it is missing.
"""

import psycopg
import redis
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from psycopg import sql


def _pg_params(database):
    config = settings.DATABASES["default"]
    return {
        "host": config.get("HOST") or "127.0.0.1",
        "port": config.get("PORT") or 5432,
        "user": config.get("USER") or None,
        "password": config.get("PASSWORD") or None,
        "dbname": database,
        "connect_timeout": 3,
    }


def _describe(params):
    return f"{params['host']}:{params['port']} (user {params['user'] or 'default'})"


class Command(BaseCommand):
    help = "Check that PostgreSQL, Redis and the Celery broker are reachable; optionally create the database."

    def add_arguments(self, parser):
        parser.add_argument("--create-database", action="store_true", help="Create the database if missing.")

    def handle(self, *args, create_database=False, **options):
        problems = [p for p in (self._check_postgres(create_database), *self._check_redis()) if p]
        if problems:
            raise CommandError("\n".join(problems))
        self.stdout.write(self.style.SUCCESS("PostgreSQL and Redis are reachable."))

    def _check_postgres(self, create_database):
        name = settings.DATABASES["default"]["NAME"]
        params = _pg_params(name)
        hint = "Start PostgreSQL, or point DATABASE_URL at yours, e.g. DATABASE_URL=postgres://USER@HOST:5432/mobul"
        try:
            psycopg.connect(**params).close()
            return None
        except psycopg.OperationalError as exc:
            if "does not exist" not in str(exc) or f'"{name}"' not in str(exc):
                return f"PostgreSQL is not reachable at {_describe(params)}: {str(exc).strip()}\n  {hint}"
        if not create_database:
            return f"PostgreSQL database {name!r} does not exist at {_describe(params)}. Run `make run` to create it."
        try:
            with psycopg.connect(**_pg_params("postgres"), autocommit=True) as conn:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.Error as exc:
            return f"Could not create database {name!r} at {_describe(params)}: {str(exc).strip()}\n  {hint}"
        self.stdout.write(f"Created database {name!r}.")
        return None

    def _check_redis(self):
        for label, url, variable in (
            ("Redis (cache)", settings.REDIS_URL, "REDIS_URL"),
            ("Redis (Celery broker)", settings.CELERY_BROKER_URL, "CELERY_BROKER_URL"),
        ):
            try:
                redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping()
            except redis.RedisError as exc:
                address = redis.connection.parse_url(url)
                yield (
                    f"{label} is not reachable at {address.get('host', 'localhost')}:{address.get('port', 6379)}: "
                    f"{exc}\n  Start Redis, or set {variable}=redis://HOST:6379/0"
                )
