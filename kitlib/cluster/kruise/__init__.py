"""OpenKruise-compatible workloads: CloneSet, SidecarSet, PodUnavailableBudget,
ImagePullJob/NodeImage, ContainerRecreateRequest and Advanced StatefulSet."""
