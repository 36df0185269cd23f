"""Local development stack: moto server, API, event router and a demo agent (`make run`)."""
