"""Native workload controllers: Deployment → ReplicaSet → Pods, and StatefulSet."""
