"""Live updates: the log follower that turns broker notices into an ordered event stream,
the grouped fan-out that renders each event once per distinct subscription, and the
GraphQL-over-WebSocket endpoint (graphql-transport-ws and the legacy graphql-ws)."""
