"""A small program traced with monitrace: parse some JSON records, score
them with a recursive helper, and print the ten busiest functions."""

import json

import monitrace

RECORDS = json.dumps(
    [{"id": i, "tags": ["a", "b", "c"][: i % 4], "depth": i % 7} for i in range(300)]
)


def tree_weight(depth):
    """Recursive on purpose: shows total/primitive call counts."""
    if depth <= 1:
        return 1
    return tree_weight(depth - 1) + tree_weight(depth - 2)


def score(record):
    return tree_weight(record["depth"]) * (1 + len(record["tags"]))


def load(text):
    return [r for r in json.loads(text) if r["id"] % 3]


def main():
    with monitrace.trace() as session:
        records = load(RECORDS)
        total = sum(score(r) for r in records)
    print(f"scored {len(records)} records, total {total}")
    print(f"clock: {session.clock}; tree_weight ran {session.calls('tree_weight')} times\n")
    session.report(sort="tottime", limit=8)


if __name__ == "__main__":
    main()
