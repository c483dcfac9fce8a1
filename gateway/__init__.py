"""CISTECH Privacy Gateway: GraphQL over marketplace data with privacy enforcement."""
