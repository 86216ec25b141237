"""The call tree of a small program: arguments, return values, an
exception caught one level up, and a generator. Run it with

    python examples/tree.py

or trace any script from the command line:

    monitrace --args --retval examples/tree.py
"""

import monitrace


def parse(text):
    return [int(part) for part in text.split(",")]


def mean(values):
    return sum(values) / len(values)


def safe_mean(text):
    try:
        return mean(parse(text))
    except ValueError:
        return None


def running_total(values):
    total = 0
    for value in values:
        total += value
        yield total


def main():
    with monitrace.trace(record=True, args=True, retval=True) as session:
        safe_mean("3,4,5")
        safe_mean("3,x")
        list(running_total([1, 2]))
    session.print_tree()


if __name__ == "__main__":
    main()
