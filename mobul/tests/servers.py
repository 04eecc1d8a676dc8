"""Real PostgreSQL clusters and PgBouncer started by tests on ports of their own, and a way to point Django at them.

Server processes run as the `postgres` OS user (neither postgres nor pgbouncer runs as root), in folders under
/tmp that the test removes.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import psycopg
from django.db import connections

PROJECT_DIR = Path(__file__).resolve().parents[2]
POSTGRES_BIN = Path(os.environ.get("POSTGRES_BIN", "/usr/lib/postgresql/15/bin"))
PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
SERVER_USER = "postgres"


def postgres_binaries_missing():
    """Why a replica cannot be started here, or None."""
    for name in ("initdb", "pg_ctl", "pg_basebackup", "createdb"):
        if not (POSTGRES_BIN / name).exists():
            return f"PostgreSQL server binaries not found: {POSTGRES_BIN / name} (set POSTGRES_BIN)"
    return None


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def as_server_user(command):
    return ["runuser", "-u", SERVER_USER, "--", *command] if os.geteuid() == 0 else command


def run(command):
    result = subprocess.run(as_server_user([str(part) for part in command]), capture_output=True, text=True,
                            timeout=120)
    if result.returncode:
        raise RuntimeError(f"{' '.join(map(str, command))} exited with {result.returncode}:\n{result.stderr}")
    return result


def server_folder(prefix):
    """A folder the server user owns (pytest's tmp_path is root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        shutil.chown(folder, SERVER_USER, SERVER_USER)
    return folder


def url(port, database):
    return f"postgres://postgres@127.0.0.1:{port}/{database}"


def wait_until(check, what, seconds=30):
    deadline = time.monotonic() + seconds
    while True:
        try:
            if check():
                return
        except psycopg.OperationalError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {seconds} s")
        time.sleep(0.1)


class Cluster:
    """One PostgreSQL server in a folder of its own: a throwaway primary (initdb) or a streaming replica of one."""

    def __init__(self, folder, port):
        self.folder, self.port = folder, port
        self.data = folder / "data"

    @classmethod
    def primary(cls):
        cluster = cls(server_folder("mobul-primary-"), free_port())
        run([POSTGRES_BIN / "initdb", "-D", cluster.data, "-U", SERVER_USER, "--auth=trust", "-E", "UTF8",
             "--no-instructions"])
        with open(cluster.data / "postgresql.conf", "a") as conf:
            # Streaming replication needs these; durability does not matter for a throwaway cluster.
            conf.write("wal_level = replica\nmax_wal_senders = 4\nfsync = off\nfull_page_writes = off\n")
        with open(cluster.data / "pg_hba.conf", "a") as hba:
            hba.write("host replication all 127.0.0.1/32 trust\n")
        cluster.start()
        return cluster

    def replica(self):
        """A hot standby streaming from this cluster, from a fresh pg_basebackup (-R writes its connection)."""
        standby = Cluster(server_folder("mobul-replica-"), free_port())
        run([POSTGRES_BIN / "pg_basebackup", "-h", "127.0.0.1", "-p", self.port, "-U", SERVER_USER,
             "-D", standby.data, "-R", "-X", "stream", "--checkpoint=fast"])
        standby.start()
        return standby

    def start(self):
        run([POSTGRES_BIN / "pg_ctl", "-D", self.data, "-l", self.folder / "server.log", "-w", "-t", "60",
             "-o", f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1", "start"])

    def stop(self):
        subprocess.run(as_server_user([str(POSTGRES_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                                       "-w", "stop"]), capture_output=True, timeout=60)
        shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database):
        return url(self.port, database)

    def create_migrated_database(self, name):
        """Database `name` on this cluster, migrated by manage.py as a deployment would."""
        run([POSTGRES_BIN / "createdb", "-h", "127.0.0.1", "-p", self.port, "-U", SERVER_USER, name])
        environment = {**os.environ, "DATABASE_URL": self.url(name), "DJANGO_SETTINGS_MODULE": "mobul.settings"}
        result = subprocess.run([sys.executable, str(PROJECT_DIR / "manage.py"), "migrate", "--no-input", "-v", "0"],
                                capture_output=True, text=True, timeout=300, env=environment)
        if result.returncode:
            raise RuntimeError(f"migrate on the throwaway primary failed:\n{result.stderr}")


def catch_up(primary_url, replica_url):
    """Waits until the replica has replayed everything the primary has written so far."""
    with psycopg.connect(primary_url, autocommit=True) as primary:
        target = primary.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0]

    def replayed():
        with psycopg.connect(replica_url, autocommit=True) as replica:
            return replica.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [target]).fetchone()[0]

    wait_until(replayed, "the replica did not catch up")


class PgBouncer:
    """PgBouncer in front of one database, on a port of its own."""

    def __init__(self, server_host, server_port, database, pool_mode="transaction"):
        self.folder, self.port, self.database = server_folder("mobul-pgbouncer-"), free_port(), database
        config = self.folder / "pgbouncer.ini"
        (self.folder / "users.txt").write_text(f'"{SERVER_USER}" ""\n')
        config.write_text(
            f"[databases]\n{database} = host={server_host} port={server_port} dbname={database}\n"
            f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {self.folder / 'users.txt'}\npool_mode = {pool_mode}\n"
            f"default_pool_size = 10\nmax_client_conn = 200\nadmin_users = {SERVER_USER}\n"
            f"logfile = {self.folder / 'pgbouncer.log'}\npidfile = {self.folder / 'pgbouncer.pid'}\n"
            # Django sends these at connect; PgBouncer must not refuse them.
            "ignore_startup_parameters = extra_float_digits,options\n"
        )
        if os.geteuid() == 0:
            for path in self.folder.iterdir():
                shutil.chown(path, SERVER_USER, SERVER_USER)
        self.process = subprocess.Popen(as_server_user([PGBOUNCER, str(config)]), stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE)
        wait_until(lambda: self._answers(), "PgBouncer did not start")

    def _answers(self):
        if self.process.poll() is not None:
            raise RuntimeError(f"PgBouncer exited: {self.process.stderr.read().decode()} {self.log()}")
        with psycopg.connect(self.url(), autocommit=True, connect_timeout=2) as connection:
            return connection.execute("SELECT 1").fetchone() == (1,)

    def url(self):
        return url(self.port, self.database)

    def show(self, what):
        """Rows of PgBouncer's admin console command SHOW <what>."""
        with psycopg.connect(url(self.port, "pgbouncer"), autocommit=True, prepare_threshold=None) as admin:
            cursor = admin.cursor()
            cursor.execute(f"SHOW {what}")
            names = [column.name for column in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]

    def log(self):
        path = self.folder / "pgbouncer.log"
        return path.read_text() if path.exists() else ""

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


@contextmanager
def django_databases(databases):
    """Points Django's connections at `databases` (alias → settings dict) for the block, then back."""
    saved = connections.settings

    def drop_connections():
        for alias in list(connections.settings):
            connection = connections[alias]
            connection.close()
            if getattr(connection, "pool", None) is not None:
                connection.close_pool()
            del connections[alias]

    drop_connections()
    connections.settings = connections.configure_settings(databases)
    try:
        yield
    finally:
        drop_connections()
        connections.settings = saved

