"""What runs beside the data path and reports on it: health endpoint, heartbeat, flow log lines, logging, status.

Each listens to hooks (`Intake.on_taken`, `Uploader.on_put`/`on_uploaded`) or reads the spool;
none sits in the data path.
"""
