"""DynamoDB access: PynamoDB models (`tables.py`) and one repository module per aggregate. PynamoDB stays in here."""
