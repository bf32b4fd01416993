using KeyRotator.Testing;

// One real control plane (etcd + kube-apiserver) for the whole test assembly.
[assembly: AssemblyFixture(typeof(KubernetesEnvironment))]
