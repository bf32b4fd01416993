namespace KeyRotator.Operator.Publishing;

/// <summary>What a create-or-update did.</summary>
public enum ApplyResult
{
    /// <summary>The object already matched: nothing was written.</summary>
    Unchanged,

    /// <summary>The object was created or updated.</summary>
    Written,

    /// <summary>An object of that name exists and is not this set's: it was left untouched.</summary>
    NotOwned,
}
