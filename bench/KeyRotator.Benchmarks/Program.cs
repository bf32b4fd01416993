using System.Diagnostics;
using System.Globalization;
using BenchmarkDotNet.Running;
using KeyRotator.Core.Keys;
using KeyRotator.Model.Jose;

if (args is ["rsa-keygen", var countText, var threadsText, ..])
{
    // The yardstick of hack/scale.sh for RSA sets: how long this machine takes to generate COUNT
    // RSA-2048 keys on THREADS threads, the same way the operator does (PrivateSigningKey.Generate).
    var count = int.Parse(countText, CultureInfo.InvariantCulture);
    var threads = int.Parse(threadsText, CultureInfo.InvariantCulture);
    var clock = Stopwatch.StartNew();
    Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = threads }, _ => PrivateSigningKey.Generate(JwsAlgorithm.Parse("RS256"), 2048));
    Console.WriteLine(clock.Elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture));
    return;
}

if (args is ["blob-container", var connectionString, var containerName, ..])
{
    // hack/scale.sh PUBLISH=azurite: the platform team's container, publicly readable as issuers' documents are.
    var container = new Azure.Storage.Blobs.BlobContainerClient(connectionString, containerName);
    await container.CreateIfNotExistsAsync(Azure.Storage.Blobs.Models.PublicAccessType.Blob);
    Console.WriteLine(container.Uri);
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
