"""AWS's own event-pattern matcher (event-ruler, Java) as the oracle for orderstream.domain.patterns.

- :mod:`.harness` builds the small Java program in tools/ruler-harness with Maven (cached under .local/) and
  runs it on a whole batch of cases in one JVM;
- :mod:`.cases` generates seeded pattern/event pairs covering every operator and the edge cases;
- :mod:`.known` recognises the deliberate differences listed in docs/patterns.md;
- :mod:`.compare` runs both matchers (single patterns and compiled sets) and reports every difference.

``python -m tools.patterns_oracle build`` builds the harness; ``... compare`` prints a report.
"""
