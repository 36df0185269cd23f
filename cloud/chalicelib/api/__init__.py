"""REST API: one Chalice blueprint per domain; `endpoint` adds auth and the error mapping to every route."""
