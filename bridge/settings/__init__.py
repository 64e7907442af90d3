"""Schemas of the config sections that belong to the console and the alerts (`ops:`, `alerts:`).

Apart from bridge.config, which only hooks them in, and below it: the config loads them, the
console and the alerts read the settings they build; none of them reaches back up.
"""
