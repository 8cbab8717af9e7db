"""How the tool reaches a cluster: SSH to the nodes, the AdminClient, the quorum's wire."""
