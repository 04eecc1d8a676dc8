"""Lua scripts on the cache's Redis, registered once per connection pool."""

_registered = {}  # (connection pool id, source) → redis-py Script


def registered_script(connection, source):
    """`source` as a callable script on `connection`: later calls are an EVALSHA (redis-py loads it again after a
    Redis restart)."""
    key = (id(connection.connection_pool), source)
    script = _registered.get(key)
    if script is None:
        script = _registered[key] = connection.register_script(source)
    return script
