using KeyRotator.Operator.Runtime;
using Microsoft.Extensions.DependencyInjection;

namespace KeyRotator.Operator.Tests.Hosting;

/// <summary>Per-set memory is forgotten in one place: every singleton that keeps some is one of SetMemory's holders.</summary>
public sealed class SetMemoryTests
{
    [Fact]
    public async Task Every_type_that_remembers_sets_is_forgotten_by_SetMemory()
    {
        await using var app = UnstartedOperator.Build();

        var holders = app.Services.GetServices<IRemembersSets>().Select(h => h.GetType()).ToHashSet();
        var rememberers = typeof(IRemembersSets).Assembly.GetTypes()
            .Where(t => t is { IsClass: true, IsAbstract: false } && typeof(IRemembersSets).IsAssignableFrom(t))
            .ToList();

        Assert.True(rememberers.Count >= 7, $"only {rememberers.Count} types remember sets");
        Assert.All(rememberers, t => Assert.True(holders.Contains(t), $"{t.Name} remembers sets but is not registered as IRemembersSets, so SetMemory never makes it forget"));
        Assert.NotNull(app.Services.GetRequiredService<SetMemory>());
    }

    [Fact]
    public void Forget_reaches_every_holder_with_the_set_and_its_uid()
    {
        var (a, b) = (new Recording(), new Recording());

        new SetMemory([a, b]).Forget(new SetKey("ns", "auth"), "uid-1");

        Assert.Equal([(new SetKey("ns", "auth"), (string?)"uid-1")], a.Forgotten);
        Assert.Equal(a.Forgotten, b.Forgotten);
    }

    private sealed class Recording : IRemembersSets
    {
        public List<(SetKey, string?)> Forgotten { get; } = [];

        public void Forget(SetKey set, string? uid) => Forgotten.Add((set, uid));
    }
}
