"""The guard around every mutating command: the stack lock (lock.py), Ctrl-C handling and the
audit record of one operation (operation.py, audit.py), backups before and after (snapshots.py),
and the driver's own directory beside the state (driver_state.py)."""
