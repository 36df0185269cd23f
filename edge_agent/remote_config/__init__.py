"""Remote configuration: the agent polls what the cloud publishes for it, checks it with the TOML's own models,
applies what changes live, keeps the last good one in data_dir and reports the version in its heartbeat.

`document.py` (pure: bytes → a checked configuration, and the effective configuration it makes with the TOML),
`fetch.py` (the S3 object, conditional on its ETag), `last_good.py` (the copy in data_dir), `poller.py` (the
thread and the status the heartbeat reports). docs/edge_agent.md "Remote configuration".
"""
