"""Taking over the running system from the original TypeScript stacks (issue 18).

inventory.py reads what the old stacks left (live Swarm, an export, an inventory file);
plan.py matches it to this program's resources (mapping.yaml) and decides per object;
steps.py does one step on the engine; journal.py records completed steps; apply.py runs them.
"""
