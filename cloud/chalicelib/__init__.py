"""MedFlow cloud code packaged with the Chalice app: API blueprints, event handlers, services, DynamoDB access."""
