"""What the bridge remembers in Redis, one small store per concept.

Each module keeps one kind of record and says why it is kept; every key is spelled by
bridge.keyspace. A caller builds the store it needs from a Redis client.
"""
