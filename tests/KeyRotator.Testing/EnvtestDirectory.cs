namespace KeyRotator.Testing;

/// <summary>
/// Names the temporary directory of every control-plane process the fixtures start. Its arguments carry
/// it, so hack/test.sh finds the processes that outlived a run by it; the run's id
/// (<c>KEYROTATOR_TEST_RUN</c>, set by hack/test.sh) keeps that search to this run's processes, so two runs
/// on one machine (CI beside a developer's targeted run) never count or kill each other's.
/// </summary>
public static class EnvtestDirectory
{
    public static string Create(string kind)
    {
        var run = Environment.GetEnvironmentVariable("KEYROTATOR_TEST_RUN");
        var prefix = string.IsNullOrEmpty(run) ? $"keyrotator-envtest-{kind}-" : $"keyrotator-envtest-{run}-{kind}-";
        return Directory.CreateTempSubdirectory(prefix).FullName;
    }
}
