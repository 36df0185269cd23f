"""DynamoDB access: the storage primitives (`store.py`) and one repository module per domain. PynamoDB stays in here."""
