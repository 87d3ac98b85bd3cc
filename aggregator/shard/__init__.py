"""Several replicas of the service share the resources: Lease membership, a hash ring, routing."""
