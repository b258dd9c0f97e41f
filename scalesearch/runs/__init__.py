"""The run directory: atomic writes, run.json, and the tables each kind of run saves
(what reports and users read back; never console output)."""
