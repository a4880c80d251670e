"""The bandit stage: arm statistics, posteriors, policies, constraints, propensities, OPE."""
