"""One module per stage: the wiring of config, executor and run store around the stage's library
code, used by its CLI command and, through the stage table (`registry.py`), by `run`."""
