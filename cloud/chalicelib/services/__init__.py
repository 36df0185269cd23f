"""Logic used by the API routes and the event handlers; calls the db/ repositories, never PynamoDB directly."""
