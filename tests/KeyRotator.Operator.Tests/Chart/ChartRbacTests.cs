using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using k8s;
using k8s.Autorest;
using k8s.Models;
using KeyRotator.Model.Kubernetes;
using KeyRotator.Operator.Kubernetes;
using KeyRotator.Operator.Tests.Reconcile;
using KeyRotator.Testing;

namespace KeyRotator.Operator.Tests.Chart;

/// <summary>
/// The operator runs as the chart's ServiceAccount with exactly the RBAC the chart renders
/// (namespaced mode), and a whole rotation cycle works; what that identity may not do, it cannot.
/// </summary>
public sealed class ChartRbacTests(KubernetesEnvironment env)
{
    [Fact]
    public async Task Operator_as_the_charts_service_account_rotates_records_events_leads_and_reviews_reports_and_can_do_nothing_more()
    {
        var ct = TestContext.Current.CancellationToken;
        Assert.SkipWhen(env.ControlPlane is null, "needs the envtest control plane's kubeconfig and TokenRequest");
        var release = $"rbac{Guid.NewGuid().ToString("N")[..6]}";
        var system = await env.CreateNamespaceAsync("kr-system", ct);
        var watched = await env.CreateNamespaceAsync("rbac-watched", ct);
        var other = await env.CreateNamespaceAsync("rbac-other", ct);

        var (code, rendered) = await Repository.RunAsync(Repository.Helm, "template", release, Path.Combine(Repository.Root, "charts", "keyrotator"),
            "--namespace", system, "--kube-version", "1.20.2", "--set", $"operator.watchNamespaces[0]={watched}");
        Assert.True(code == 0, rendered);
        var file = Path.Combine(Path.GetTempPath(), $"{release}.yaml");
        await File.WriteAllTextAsync(file, rendered, ct);
        var (applied, output) = await Repository.RunAsync(Repository.Kubectl, "--kubeconfig", env.ControlPlane!.AdminKubeconfigPath, "apply", "-f", file);
        File.Delete(file);
        Assert.True(applied == 0, output);

        var serviceAccount = $"{release}-keyrotator";
        var token = await TokenAsync(system, serviceAccount, "https://kubernetes.default.svc");
        var identity = env.ControlPlane.ConfigFor(token);
        await using var op = await OperatorInstance.StartAsync(env, [watched], clientConfig: identity,
            settings: new Dictionary<string, string?> { ["KeyRotator:LeaderElection:Namespace"] = system });

        // A full cycle: first key, a manual rotation, Events, the Lease.
        var scenario = new OperatorScenario(env, watched);
        await scenario.Sets.CreateAsync(SigningKeySetBuilder.Named("auth", watched).WithRotation(r => r with { Interval = "1h", PrePublish = "1s" }).Build(), ct);
        var first = await scenario.WaitForActiveKeyAsync("auth");
        await scenario.EditAsync(first.Metadata.Name, s => s.Metadata.Annotations = new Dictionary<string, string> { [Labels.RotateNowAnnotation] = "rbac" }, ct);
        await Eventually.HoldsAsync(() => scenario.GetAsync("auth"), s => s.Status?.ActiveKeyId is { } kid && kid != first.Status!.ActiveKeyId, TimeSpan.FromSeconds(15), "a rotation as the chart's identity", ct);
        await Eventually.HoldsAsync(() => scenario.EventsAsync("auth"), e => e.Any(x => x.Reason == "KeyActivated"), TimeSpan.FromSeconds(5), "KeyActivated Events", ct);
        var lease = await env.Admin.CoordinationV1.ReadNamespacedLeaseAsync("keyrotator-leader", system, cancellationToken: ct);
        Assert.Equal(op.Identity, lease.Spec.HolderIdentity);
        Assert.DoesNotContain(op.Logs.Lines, l => l.Contains("Forbidden", StringComparison.Ordinal) || l.Contains(" 403 ", StringComparison.Ordinal));

        // The report endpoint's TokenReview and SubjectAccessReview run as the chart's identity too.
        using var http = new HttpClient { BaseAddress = op.BaseAddress };
        using var report = new HttpRequestMessage(HttpMethod.Post, $"/v1/namespaces/{watched}/signingkeysets/auth/signaturefailures")
        {
            Content = JsonContent.Create(new { failures = new[] { new { reason = "unknown_kid", kid = "x", count = 1 } } }),
        };
        report.Headers.Authorization = new AuthenticationHeaderValue("Bearer", await ServiceAccounts.TokenAsync(env, watched, "verifier", "keyrotator", grantReporter: true));
        Assert.Equal(HttpStatusCode.Accepted, (await http.SendAsync(report, ct)).StatusCode);

        // What the chart's identity may not do.
        using var asOperator = new k8s.Kubernetes(identity);
        await AssertForbiddenAsync(() => asOperator.CoreV1.ListNamespacedSecretAsync(other, cancellationToken: ct), "read Secrets in a namespace it does not watch");
        await AssertForbiddenAsync(() => asOperator.CoreV1.ListSecretForAllNamespacesAsync(cancellationToken: ct), "list Secrets cluster-wide");
        await AssertForbiddenAsync(() => asOperator.CoreV1.ReadNamespacedConfigMapAsync("anything", other, cancellationToken: ct), "read ConfigMaps elsewhere");
        await AssertForbiddenAsync(() => new SigningKeySetClient(asOperator).CreateAsync(SigningKeySetBuilder.Named("rogue", watched).Build(), ct), "create SigningKeySets");
        await AssertForbiddenAsync(() => new SigningKeySetClient(asOperator).DeleteAsync(watched, "auth", ct), "delete SigningKeySets");
        await AssertForbiddenAsync(() => asOperator.CoordinationV1.ListNamespacedLeaseAsync(watched, cancellationToken: ct), "touch Leases outside its namespace");
        await AssertForbiddenAsync(() => asOperator.RbacAuthorizationV1.ListClusterRoleAsync(cancellationToken: ct), "read RBAC");
    }

    private static async Task AssertForbiddenAsync<T>(Func<Task<T>> call, string what)
    {
        var error = await Assert.ThrowsAsync<HttpOperationException>(call);
        Assert.True(error.Response.StatusCode == HttpStatusCode.Forbidden, $"the chart's identity could {what}: {error.Response.StatusCode}");
    }

    private static async Task AssertForbiddenAsync(Func<Task> call, string what)
    {
        var error = await Assert.ThrowsAsync<HttpOperationException>(call);
        Assert.True(error.Response.StatusCode == HttpStatusCode.Forbidden, $"the chart's identity could {what}: {error.Response.StatusCode}");
    }

    private Task<string> TokenAsync(string ns, string serviceAccount, string audience) => ServiceAccounts.TokenAsync(env, ns, serviceAccount, audience);
}
