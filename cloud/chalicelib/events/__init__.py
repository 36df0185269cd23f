"""Event handlers, one module per handler; `local_router` feeds them locally the way Lambda would."""
